"""The embedded engine: DuckDB over Arrow (no extensions, nothing downloaded)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from strata.engines.base import Engine, Relation
from strata.errors import ModelError
from strata.quality import QualityReport, Rule, evaluate


class DuckDBEngine(Engine):
    """A DuckDB session; `threads` follows the profile's `workers`."""

    name = "duckdb"
    dialect = "duckdb"
    runs_python_udfs = True

    def __init__(
        self, threads: int = 2, temp_directory: Path | None = None, memory_limit: str | None = None
    ) -> None:
        # Extensions are never installed or loaded on the fly: nothing may be downloaded at run
        # time, and without ICU every timestamp is handled in UTC.
        self.con = duckdb.connect(
            config={
                "threads": threads,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            }
        )
        if temp_directory is not None:
            # Lets DuckDB spill to disk instead of failing when a batch outgrows memory.
            temp_directory.mkdir(parents=True, exist_ok=True)
            self.con.execute(f"SET temp_directory = '{temp_directory.as_posix()}'")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")

    def register(self, relation: str, data: Relation) -> None:
        self.con.register(relation, data)

    def query(self, sql: str) -> pa.Table:
        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise ModelError("query", str(exc).splitlines()[0]) from exc

    def check_quality(
        self, relation: str, rules: list[Rule], table: str
    ) -> tuple[pa.Table, pa.Table, QualityReport]:
        return evaluate(self.con, relation, rules, table_name=table)

    def close(self) -> None:
        self.con.close()
