"""Engines run SQL models; DuckDB is built in, Spark loads lazily."""

from strata.engines.base import Engine, engine_names, get_engine, register_engine
from strata.engines.duckdb import DuckDBEngine

register_engine("duckdb", DuckDBEngine)

__all__ = ["DuckDBEngine", "Engine", "engine_names", "get_engine", "register_engine"]
