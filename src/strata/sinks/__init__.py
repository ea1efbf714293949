"""Warehouse sinks: load Arrow data into PostgreSQL, MySQL/MariaDB or a DuckDB file.

    with open_warehouse("postgresql://user@host/db", schema="gold") as wh:
        result = wh.load("daily", table, mode="merge", key=["sensor_id", "day"])

Every load is all-or-nothing for the rows, creates and evolves the table additively (new
columns added, types widened safely, unsafe changes refused) and streams a RecordBatchReader
without materializing it. See :mod:`strata.sinks.base` for the algorithm and each backend's
module for its specifics.
"""

from __future__ import annotations

from strata.db.urls import DatabaseUrl
from strata.errors import ConfigError
from strata.sinks.base import LoadResult, Mode, Warehouse


def open_warehouse(url: str, *, schema: str | None = None) -> Warehouse:
    """Connect to the warehouse at `url` (postgresql://, postgres://, mysql://, mariadb://,
    duckdb:///path.duckdb); `schema` is the default namespace for loads (created on first use).

    Raises ConfigError for an unsupported URL and DatabaseUnavailable (password redacted) when
    the database cannot be reached.
    """
    parsed = DatabaseUrl.parse(url)
    if parsed.kind == "postgresql":
        from strata.sinks.postgres import PostgresWarehouse

        return PostgresWarehouse(parsed, schema)
    if parsed.kind == "mysql":
        from strata.sinks.mysql import MySQLWarehouse

        return MySQLWarehouse(parsed, schema)
    if parsed.kind == "duckdb":
        from strata.sinks.duckdb_file import DuckDBWarehouse

        return DuckDBWarehouse(parsed, schema)
    raise ConfigError(f"no warehouse backend for {parsed}")  # pragma: no cover - parse refuses


__all__ = ["LoadResult", "Mode", "Warehouse", "open_warehouse"]
