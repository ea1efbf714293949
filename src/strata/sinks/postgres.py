"""PostgreSQL warehouse over ADBC: binary COPY into a temporary stage, then one transaction.

Every load is a single transaction on one connection: ``CREATE SCHEMA``/``CREATE TABLE``/
``ALTER TABLE`` (PostgreSQL DDL is transactional), the binary ``COPY`` of the data into a
``TEMPORARY`` staging table (``adbc_ingest``, streaming a RecordBatchReader batch by batch), and
the final ``INSERT … SELECT`` / ``DELETE`` + ``INSERT`` / ``INSERT … ON CONFLICT DO UPDATE``.
A failure anywhere rolls it all back. Concurrent readers keep seeing the old rows until the
commit; a ``replace`` uses ``DELETE`` (not ``TRUNCATE``, which is not MVCC-safe), so no reader
ever sees an empty table. A load that widens or adds columns holds ``ACCESS EXCLUSIVE`` on the
table until it commits (readers wait instead of seeing a half-changed schema).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

import adbc_driver_postgresql.dbapi as pg
import pyarrow as pa
import pyarrow.compute as pc

from strata.db.urls import DatabaseUrl, redact
from strata.errors import DatabaseUnavailable
from strata.sinks.base import Dialect, ExistingTable, SchemaPlan, TableRef, Warehouse
from strata.sinks.types import NormalizedData, SqlType, decimal

_NUMERIC = re.compile(r"^numeric(?:\((\d+),(\d+)\))?$")
_VARCHAR = re.compile(r"^character varying(?:\((\d+)\))?$")
_TEMPORAL = re.compile(r"^(time|timestamp)(?:\(\d+\))? with(out)? time zone$")
_SIMPLE = {
    "smallint": SqlType("int", 16),
    "integer": SqlType("int", 32),
    "bigint": SqlType("int", 64),
    "real": SqlType("float", 32),
    "double precision": SqlType("float", 64),
    "text": SqlType("text"),
    "bytea": SqlType("binary"),
    "boolean": SqlType("bool"),
    "date": SqlType("date"),
}


class PostgresDialect(Dialect):
    """PostgreSQL types: no 1-byte integer, NUMERIC up to 1000 digits, TEXT and BYTEA."""

    max_identifier = 63

    def render(self, t: SqlType) -> str:
        if t.family == "int":
            return {32: "INTEGER", 64: "BIGINT"}.get(t.size or 64, "SMALLINT")
        if t.family == "float":
            return "REAL" if t.size == 32 else "DOUBLE PRECISION"
        if t.family == "decimal":
            return "NUMERIC" if t.size is None else f"NUMERIC({t.size},{t.scale})"
        if t.family == "text":
            return "TEXT" if t.size is None else f"VARCHAR({t.size})"
        names = {
            "binary": "BYTEA",
            "bool": "BOOLEAN",
            "date": "DATE",
            "time": "TIME",
            "timestamp": "TIMESTAMP",
            "timestamptz": "TIMESTAMPTZ",
        }
        return names.get(t.family) or str(t.raw)

    def parse(self, raw: str) -> SqlType:
        text = raw.lower()
        if text in _SIMPLE:
            return _SIMPLE[text]
        if m := _NUMERIC.match(text):
            return decimal(int(m[1]), int(m[2])) if m[1] else decimal(None)
        if m := _VARCHAR.match(text):
            return SqlType("text", int(m[1]) if m[1] else None)
        if m := _TEMPORAL.match(text):
            if m[1] == "time":
                return SqlType("time") if m[2] else SqlType("other", raw=raw)
            return SqlType("timestamp" if m[2] else "timestamptz")
        return SqlType("other", raw=raw)

    def store(self, t: SqlType, key: bool) -> SqlType:
        if t.family == "int" and (t.size or 64) < 16:
            return SqlType("int", 16)
        if t.family == "binary":
            return SqlType("binary")
        return t


class PostgresWarehouse(Warehouse):
    """A PostgreSQL database; `namespace` is the schema (default: the connection's current)."""

    kind = "postgresql"
    dialect = PostgresDialect()

    def __init__(self, url: DatabaseUrl, schema: str | None = None) -> None:
        try:
            self._conn = pg.connect(_libpq_url(url), autocommit=False)
        except pg.Error as exc:
            raise DatabaseUnavailable(str(url), redact(_message(exc))) from exc
        self._closed = False
        super().__init__(url, schema or self._current_schema())

    # -- public -----------------------------------------------------------------------------

    def read(self, sql: str) -> pa.Table:
        """Run `sql`; NUMERIC(p,s) columns come back as Arrow decimals (unbounded NUMERIC as
        strings). The read's transaction is rolled back, so it never holds a snapshot open."""
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql)
                table = cur.fetch_arrow_table()
        except pg.Error as exc:
            self._rollback()
            raise self._error("(query)", exc) from exc
        self._rollback()
        return _decode_numerics(table)

    def tables(self, schema: str | None = None) -> list[str]:
        rows = self._query(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
            [schema or self.namespace],
        )
        self._rollback()
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.close()

    # -- hooks ------------------------------------------------------------------------------

    def _execute(self, sql: str) -> None:
        with self._conn.cursor() as cur:
            cur.execute(sql)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(sql, list(params) if params else None)
            return list(cur.fetchall())

    def _begin(self) -> None:
        """Nothing to do: without autocommit the driver opens a transaction on first use."""

    def _commit(self) -> None:
        self._conn.commit()

    def _rollback(self) -> None:
        self._conn.rollback()

    def _current_schema(self) -> str:
        try:
            value = self._query("SELECT current_schema()")[0][0]
        finally:
            self._rollback()
        return str(value or "public")

    def _ensure_namespace(self, namespace: str) -> None:
        if not self._query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [namespace]):
            self._execute(f"CREATE SCHEMA IF NOT EXISTS {self.dialect.quote(namespace)}")

    def _describe(self, ref: TableRef) -> ExistingTable | None:
        rows = self._query(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
            "COALESCE(a.attnum = ANY(i.indkey), false) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
            "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [ref.namespace, ref.name],
        )
        if not rows:
            return None
        columns = {str(name): self.dialect.parse(str(raw)) for name, raw, _ in rows}
        return ExistingTable(columns, [str(name) for name, _, key in rows if key])

    def _stage(self, ref: TableRef, source: NormalizedData) -> str:
        """Binary COPY into a TEMPORARY table (not WAL-logged, gone with the transaction)."""
        name = f"_strata_stage_{uuid.uuid4().hex[:12]}"
        with self._conn.cursor() as cur:
            cur.adbc_ingest(name, source.reader(), mode="create", temporary=True)
        stage = f"pg_temp.{self.dialect.quote(name)}"
        self._execute(f"ANALYZE {stage}")  # autovacuum never analyzes temporary tables
        return stage

    def _drop_stage(self, stage: str) -> None:
        self._execute(f"DROP TABLE IF EXISTS {stage}")

    def _alter_sql(self, ref: TableRef, plan: SchemaPlan) -> list[str]:
        if not (plan.adds or plan.widen):
            return []
        q, render = self.dialect.quote, self.dialect.render
        clauses = [f"ADD COLUMN {q(c.target)} {render(c.type)}" for c in plan.adds]
        for c, _ in plan.widen:
            name, new = q(c.target), render(c.type)
            clauses.append(f"ALTER COLUMN {name} TYPE {new} USING {name}::{new}")
        return [f"ALTER TABLE {self.dialect.table(ref)} {', '.join(clauses)}"]

    def _merge(self, ref: TableRef, stage: str, plan: SchemaPlan) -> tuple[int | None, int | None]:
        """INSERT … ON CONFLICT DO UPDATE; `xmax = 0` on a returned row means it was inserted."""
        q = self.dialect.quote
        keys = ", ".join(q(c.target) for c in plan.keys)
        updates = ", ".join(
            f"{q(c.target)} = EXCLUDED.{q(c.target)}" for c in self._update_columns(plan)
        )
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        upsert = self._insert_sql(ref, stage, plan, dedupe=True)
        inserted, updated = self._query(
            f"WITH upsert AS ({upsert} ON CONFLICT ({keys}) {action} "
            "RETURNING (xmax = 0) AS inserted) "
            "SELECT COUNT(*) FILTER (WHERE inserted), COUNT(*) FILTER (WHERE NOT inserted) "
            "FROM upsert"
        )[0]
        return int(inserted), int(updated)

    def _describe_error(self, exc: Exception) -> str:
        return _message(exc)

    def _is_disconnect(self, exc: Exception) -> bool:
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if sqlstate.startswith(("08", "57P")):
            return True
        return isinstance(exc, pg.OperationalError) and not sqlstate


def _libpq_url(url: DatabaseUrl) -> str:
    """The URL with the scheme libpq understands (drops a `+driver` suffix)."""
    return "postgresql://" + url.url.split("://", 1)[1]


def _message(exc: BaseException) -> str:
    """A driver error without the echoed query text, with its SQLSTATE."""
    text = str(exc).split("\n\nQuery was:", 1)[0].strip()
    text = re.sub(r"\s+", " ", text)
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate and sqlstate not in text:
        text += f" (SQLSTATE {sqlstate})"
    return text


def _decode_numerics(table: pa.Table) -> pa.Table:
    """Turn the driver's opaque NUMERIC strings into Arrow decimals using the column typmod."""
    for index, f in enumerate(table.schema):
        meta = f.metadata or {}
        if meta.get(b"POSTGRESQL:type") != b"numeric":
            continue
        column = table.column(index)
        strings = pa.chunked_array(
            [getattr(chunk, "storage", chunk) for chunk in column.chunks], pa.string()
        )
        typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
        target: pa.DataType = pa.string()
        if typmod >= 4:
            precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
            target = (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
        try:
            converted = pc.cast(strings, target)
        except pa.ArrowInvalid:  # NaN or infinity: not representable as an Arrow decimal
            converted = strings
        table = table.set_column(index, pa.field(f.name, converted.type), converted)
    return table
