"""Engines run SQL models; DuckDB is built in, Spark loads lazily (the `spark` extra)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from strata.engines.base import Engine, engine_names, get_engine, register_engine
from strata.engines.duckdb import DuckDBEngine
from strata.errors import MissingDependency

if TYPE_CHECKING:
    from strata.config import Settings


def _spark(settings: Settings) -> Engine:
    try:
        from strata.engines.spark import SparkEngine
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "pyspark":
            raise MissingDependency("pyspark", "spark") from exc
        raise
    return SparkEngine.from_settings(settings)


register_engine("duckdb", DuckDBEngine.from_settings)
register_engine("spark", _spark)

__all__ = ["DuckDBEngine", "Engine", "engine_names", "get_engine", "register_engine"]
