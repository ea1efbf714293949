"""A DuckDB database file as a warehouse (local development, tests, small deployments).

A load is one DuckDB transaction (DDL included): the Arrow stream is registered as a view and
copied into a temporary stage, then moved into the target with ``INSERT … SELECT``,
``DELETE`` + ``INSERT`` or ``INSERT … ON CONFLICT DO UPDATE``. DuckDB cannot change the type of
a primary-key column in place, so widening one rebuilds the table inside the same transaction
(create a copy with the new types, copy the rows, drop the old table, rename the copy).
DuckDB compares identifiers case-insensitively; Strata does the same for this backend.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from strata.db.urls import DatabaseUrl, redact
from strata.errors import DatabaseUnavailable, WarehouseError
from strata.sinks.base import ColumnPlan, Dialect, ExistingTable, SchemaPlan, TableRef, Warehouse
from strata.sinks.types import NormalizedData, SqlType, decimal

_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_SIMPLE = {
    "TINYINT": SqlType("int", 8),
    "SMALLINT": SqlType("int", 16),
    "INTEGER": SqlType("int", 32),
    "BIGINT": SqlType("int", 64),
    "FLOAT": SqlType("float", 32),
    "DOUBLE": SqlType("float", 64),
    "VARCHAR": SqlType("text"),
    "BLOB": SqlType("binary"),
    "BOOLEAN": SqlType("bool"),
    "DATE": SqlType("date"),
    "TIME": SqlType("time"),
    "TIMESTAMP": SqlType("timestamp"),
    "TIMESTAMP WITH TIME ZONE": SqlType("timestamptz"),
}
_RENDER = {
    "text": "VARCHAR",
    "binary": "BLOB",
    "bool": "BOOLEAN",
    "date": "DATE",
    "time": "TIME",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
}


class DuckDBDialect(Dialect):
    """DuckDB types: DECIMAL up to 38 digits, VARCHAR without a length, BLOB."""

    case_insensitive = True
    max_decimal = (38, 38)

    def __init__(self, catalog: str = "") -> None:
        self.catalog = catalog

    def table(self, ref: TableRef) -> str:
        name = super().table(ref)
        return f"{self.quote(self.catalog)}.{name}" if self.catalog else name

    def render(self, t: SqlType) -> str:
        if t.family == "int":
            return {8: "TINYINT", 16: "SMALLINT", 32: "INTEGER"}.get(t.size or 64, "BIGINT")
        if t.family == "float":
            return "FLOAT" if t.size == 32 else "DOUBLE"
        if t.family == "decimal":
            return f"DECIMAL({t.size},{t.scale})"
        return _RENDER.get(t.family) or str(t.raw)

    def parse(self, raw: str) -> SqlType:
        text = raw.upper()
        if text in _SIMPLE:
            return _SIMPLE[text]
        if m := _DECIMAL.match(text):
            return decimal(int(m[1]), int(m[2]))
        return SqlType("other", raw=raw)

    def store(self, t: SqlType, key: bool) -> SqlType:
        if t.family in ("text", "binary"):
            return SqlType(t.family)
        return t


class DuckDBWarehouse(Warehouse):
    """A DuckDB file (`duckdb:///path/file.duckdb`, or `duckdb:///:memory:`); schema "main"."""

    kind = "duckdb"
    dialect = DuckDBDialect()

    def __init__(self, url: DatabaseUrl, schema: str | None = None) -> None:
        path = url.database
        if path in ("", ":memory:", "/:memory:"):
            path = ":memory:"
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = duckdb.connect(path)
            catalog = self._conn.sql("SELECT current_database()").fetchall()[0][0]
        except (OSError, duckdb.Error) as exc:
            raise DatabaseUnavailable(str(url), redact(str(exc))) from exc
        self._closed = False
        # Names carry the catalog: a file called like a schema (warehouse.duckdb holding schema
        # "warehouse") would make "warehouse.t" ambiguous otherwise.
        self.dialect = DuckDBDialect(str(catalog))
        super().__init__(url, schema or "main")

    # -- public -----------------------------------------------------------------------------

    def read(self, sql: str) -> pa.Table:
        try:
            relation = self._conn.sql(sql)
            return relation.to_arrow_table() if relation is not None else pa.table({})
        except duckdb.Error as exc:
            raise self._error("(query)", exc) from exc

    def tables(self, schema: str | None = None) -> list[str]:
        rows = self._query(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND lower(schema_name) = lower(?) AND NOT temporary ORDER BY table_name",
            [schema or self.namespace],
        )
        return [str(r[0]) for r in rows]

    # -- hooks ------------------------------------------------------------------------------

    def _execute(self, sql: str) -> None:
        self._conn.execute(sql)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, list(params)).fetchall()

    def _begin(self) -> None:
        self._conn.begin()

    def _commit(self) -> None:
        self._conn.commit()

    def _rollback(self) -> None:
        self._conn.rollback()

    def _ensure_namespace(self, namespace: str) -> None:
        q = self.dialect.quote
        self._execute(f"CREATE SCHEMA IF NOT EXISTS {q(self.dialect.catalog)}.{q(namespace)}")

    def _describe(self, ref: TableRef) -> ExistingTable | None:
        where = (
            "database_name = current_database() AND lower(schema_name) = lower(?) "
            "AND lower(table_name) = lower(?)"
        )
        params = [ref.namespace, ref.name]
        rows = self._query(
            f"SELECT column_name, data_type FROM duckdb_columns() WHERE {where} "
            "ORDER BY column_index",
            params,
        )
        if not rows:
            return None
        keys = self._query(
            f"SELECT constraint_column_names FROM duckdb_constraints() WHERE {where} "
            "AND constraint_type = 'PRIMARY KEY'",
            params,
        )
        columns = {str(name): self.dialect.parse(str(raw)) for name, raw in rows}
        return ExistingTable(columns, [str(k) for k in keys[0][0]] if keys else [])

    def _stage(self, ref: TableRef, source: NormalizedData) -> str:
        """Copy the registered Arrow stream into a temporary table (scanned once)."""
        name = f"_strata_stage_{uuid.uuid4().hex[:12]}"
        view = f"{name}_src"
        self._conn.register(view, source.reader())
        try:
            self._execute(f"CREATE TEMP TABLE {self.dialect.quote(name)} AS SELECT * FROM {view}")
        finally:
            self._conn.unregister(view)
        return f"temp.main.{self.dialect.quote(name)}"

    def _drop_stage(self, stage: str) -> None:
        self._execute(f"DROP TABLE IF EXISTS {stage}")

    def _apply_schema(self, ref: TableRef, plan: SchemaPlan) -> None:
        if any(column.key for column, _ in plan.widen):
            self._rebuild(ref, plan)
        else:
            super()._apply_schema(ref, plan)

    def _alter_sql(self, ref: TableRef, plan: SchemaPlan) -> list[str]:
        q, render, table = self.dialect.quote, self.dialect.render, self.dialect.table(ref)
        statements = [
            f"ALTER TABLE {table} ADD COLUMN {q(c.target)} {render(c.type)}" for c in plan.adds
        ]
        statements += [
            f"ALTER TABLE {table} ALTER COLUMN {q(c.target)} TYPE {render(c.type)}"
            for c, _ in plan.widen
        ]
        return statements

    def _rebuild(self, ref: TableRef, plan: SchemaPlan) -> None:
        """Recreate the table with the planned types (DuckDB cannot ALTER a key column).

        The copy has the columns, their types, NOT NULL keys and the primary key; a table with
        anything else (CHECK/UNIQUE/foreign keys, indexes, defaults, non-key NOT NULL) is
        refused instead of silently losing it.
        """
        existing = self._describe(ref)
        assert existing is not None
        extras = self._query(
            "SELECT (SELECT COUNT(*) FROM duckdb_constraints() c WHERE c.table_oid = t.table_oid "
            "AND c.constraint_type NOT IN ('PRIMARY KEY', 'NOT NULL')) "
            "+ (SELECT COUNT(*) FROM duckdb_indexes() i WHERE i.table_oid = t.table_oid) "
            "+ (SELECT COUNT(*) FROM duckdb_columns() d WHERE d.table_oid = t.table_oid "
            "AND (d.column_default IS NOT NULL OR NOT d.is_nullable)) "
            "FROM duckdb_tables() t WHERE t.database_name = current_database() "
            "AND lower(t.schema_name) = lower(?) AND lower(t.table_name) = lower(?)",
            [ref.namespace, ref.name],
        )
        if extras and int(extras[0][0]) > len(existing.primary_key):
            widened = ", ".join(c.target for c, _ in plan.widen if c.key)
            raise WarehouseError(
                ref.label,
                f"widening key column(s) {widened} needs a table rebuild on DuckDB, and the "
                "table has constraints, indexes or defaults the rebuild would not keep",
            )
        planned = {self.dialect.fold(c.target): c for c in plan.columns}
        keys = {self.dialect.fold(k) for k in existing.primary_key}
        columns = [
            planned.get(self.dialect.fold(name))
            or ColumnPlan(name, name, old, self.dialect.fold(name) in keys)
            for name, old in existing.columns.items()
        ]
        copy = TableRef(ref.namespace, f"_strata_rebuild_{uuid.uuid4().hex[:12]}")
        self._execute(self._create_sql(copy, SchemaPlan(create=True, columns=columns)))
        q = self.dialect.quote
        names = ", ".join(q(c.target) for c in columns)
        values = ", ".join(self.dialect.cast(q(c.target), c.type) for c in columns)
        self._execute(
            f"INSERT INTO {self.dialect.table(copy)} ({names}) "
            f"SELECT {values} FROM {self.dialect.table(ref)}"
        )
        self._execute(f"DROP TABLE {self.dialect.table(ref)}")
        self._execute(f"ALTER TABLE {self.dialect.table(copy)} RENAME TO {q(ref.name)}")
        for statement in self._alter_sql(ref, SchemaPlan(create=False, columns=[], adds=plan.adds)):
            self._execute(statement)

    def _merge(self, ref: TableRef, stage: str, plan: SchemaPlan) -> tuple[int | None, int | None]:
        """Count new keys first (anti-join), then INSERT … ON CONFLICT DO UPDATE."""
        distinct, new = self._key_counts(ref, stage, plan)
        q = self.dialect.quote
        keys = ", ".join(q(c.target) for c in plan.keys)
        updates = ", ".join(
            f"{q(c.target)} = EXCLUDED.{q(c.target)}" for c in self._update_columns(plan)
        )
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        upsert = self._insert_sql(ref, stage, plan, dedupe=True)
        self._execute(f"{upsert} ON CONFLICT ({keys}) {action}")
        return new, distinct - new

    def _is_disconnect(self, exc: Exception) -> bool:
        return isinstance(exc, duckdb.ConnectionException)
