"""MySQL / MariaDB warehouse over PyMySQL: ``LOAD DATA LOCAL INFILE`` into a temporary stage.

Type notes:

* Strings are ``LONGTEXT`` (``TEXT`` stops at 64 KB); key strings are ``VARCHAR(255)``, because
  MySQL cannot index an unbounded text column. Tables use ``utf8mb4`` with a binary, no-pad
  collation (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL 8), so keys compare
  exactly as on PostgreSQL and DuckDB: ``'a'``, ``'A'`` and ``'a '`` are three keys.
* Timestamps with a time zone are stored as ``DATETIME(6)`` holding the UTC wall-clock time
  (MySQL has no time-zone-aware type; ``TIMESTAMP`` ends in 2038); they read back as naive
  UTC datetimes. Timestamps without a time zone are stored as they are.
* ``FLOAT`` columns hold float32 exactly, but the text protocol sends them back rounded to about
  six significant digits. NaN and infinity cannot be stored (the load fails).

Loading: the data is written batch by batch as a comma-separated file in MySQL's escaped
format (``\\N`` for NULL; backslash, comma, newline, carriage return and NUL escaped; binary
values hex-encoded and decoded with ``UNHEX``), at most ~64 MiB at a time, and sent with
``LOAD DATA LOCAL INFILE``. ``LOCAL`` turns conversion errors into warnings, so any warning fails
the load. If the server has ``local_infile`` off, the stage is filled with multi-row
parameterised ``INSERT`` batches instead (``executemany``; slower, same result).

Atomicity: MySQL commits DDL implicitly, so the backend plans the schema change, stages the
data and checks it (no NULL key, key strings within their ``VARCHAR`` length) *before* any DDL,
then runs ``CREATE TABLE``/``ALTER TABLE`` (one statement), and only then the data change in a
transaction. A failure in that transaction leaves the rows unchanged, but a column the load added
(or a widened type) stays; a table the failed load created is dropped again if still empty.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pymysql
import pymysql.cursors
from pymysql.constants import FIELD_TYPE

from strata.db.mysql import connect_mysql
from strata.db.urls import DatabaseUrl
from strata.errors import WarehouseError
from strata.sinks.base import Dialect, ExistingTable, SchemaPlan, TableRef, Warehouse
from strata.sinks.types import SEQ_COLUMN, NormalizedData, SqlType, decimal, sql_type_of

CHUNK_BYTES = 64 * 1024 * 1024
SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
KEY_LENGTH = 255
_INT_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}
_INT = re.compile(r"^(tinyint|smallint|mediumint|int|bigint)(?:\(\d+\))?( unsigned)?( zerofill)?$")
_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")
_SIZED = re.compile(r"^(varchar|varbinary)\((\d+)\)$")
_LOB_SIZES = {"tiny": 255, "": 65535, "medium": 16777215, "long": None}
_SIMPLE = {
    "tinyint(1)": SqlType("bool"),
    "float": SqlType("float", 32),
    "double": SqlType("float", 64),
    "date": SqlType("date"),
    "time": SqlType("time"),
    "time(6)": SqlType("time"),
    "datetime": SqlType("timestamp"),
    "datetime(6)": SqlType("timestamp"),
}
_DISCONNECT_CODES = {2003, 2006, 2013, 2055}


class MySQLDialect(Dialect):
    """MySQL/MariaDB types (see the module docstring for the choices)."""

    quote_char = "`"
    max_identifier = 64
    case_insensitive = True
    max_decimal = (65, 30)

    def identifier_length(self, name: str) -> int:
        return len(name)  # MySQL counts characters

    def render(self, t: SqlType) -> str:
        if t.family == "int":
            names = {8: "TINYINT", 16: "SMALLINT", 24: "MEDIUMINT", 32: "INT"}
            return names.get(t.size or 64, "BIGINT")
        if t.family == "float":
            return "FLOAT" if t.size == 32 else "DOUBLE"
        if t.family == "decimal":
            return f"DECIMAL({t.size},{t.scale})"
        if t.family in ("text", "binary"):
            return _render_sized(t)
        other = {"bool": "BOOLEAN", "date": "DATE", "time": "TIME(6)", "timestamp": "DATETIME(6)"}
        return other.get(t.family) or str(t.raw)

    def parse(self, raw: str) -> SqlType:
        text = raw.lower().strip()
        if text in _SIMPLE:
            return _SIMPLE[text]
        if m := _INT.match(text):
            if m[2] or m[3]:
                return SqlType("other", raw=raw)
            return SqlType("int", _INT_BITS[m[1]])
        if m := _DECIMAL.match(text):
            return decimal(int(m[1]), int(m[2]))
        if m := _SIZED.match(text):
            return SqlType("text" if m[1] == "varchar" else "binary", int(m[2]))
        for family, suffix in (("text", "text"), ("binary", "blob")):
            for prefix, size in _LOB_SIZES.items():
                if text == prefix + suffix:
                    return SqlType(family, size)
        return SqlType("other", raw=raw)

    def store(self, t: SqlType, key: bool) -> SqlType:
        if t.family == "timestamptz":
            return SqlType("timestamp")
        if key and t.family in ("text", "binary") and t.size is None:
            return SqlType(t.family, KEY_LENGTH)
        return t

    def cast(self, expression: str, t: SqlType) -> str:
        """No CAST: MySQL's CAST targets are limited; INSERT converts (strict mode fails)."""
        return expression


def _render_sized(t: SqlType) -> str:
    lob = "TEXT" if t.family == "text" else "BLOB"
    by_size = {None: "LONG" + lob, 65535: lob, 16777215: "MEDIUM" + lob}
    if t.size in by_size:
        return by_size[t.size]
    return f"{'VARCHAR' if t.family == 'text' else 'VARBINARY'}({t.size})"


class MySQLWarehouse(Warehouse):
    """A MySQL/MariaDB server; the namespace is a database (the URL's, or `schema`).

    `local_infile`: True/False forces bulk loading with ``LOAD DATA LOCAL INFILE`` or with
    ``INSERT`` batches; None (default) uses LOAD DATA when the server allows it.
    """

    kind = "mysql"
    dialect = MySQLDialect()
    transactional_ddl = False

    def __init__(
        self, url: DatabaseUrl, schema: str | None = None, *, local_infile: bool | None = None
    ) -> None:
        self._conn = connect_mysql(url, database=False, autocommit=True, local_infile=True)
        self._closed = False
        super().__init__(url, schema or url.database)
        self._execute(f"SET SESSION sql_mode = '{SQL_MODE}'")
        version = str(self._scalar("SELECT VERSION()"))
        self._collation = _collation(version)
        server_allows = bool(int(self._scalar("SELECT @@GLOBAL.local_infile")))
        self.local_infile = server_allows if local_infile is None else local_infile
        self._use(url.database)

    # -- public -----------------------------------------------------------------------------

    def read(self, sql: str) -> pa.Table:
        """Run `sql` (autocommit; the URL's database is the default)."""
        try:
            with self._conn.cursor(pymysql.cursors.SSCursor) as cur:
                cur.execute(sql)
                description = cur.description
                rows = list(cur.fetchall()) if description else []
        except pymysql.Error as exc:
            raise self._error("(query)", exc) from exc
        if not description:
            return pa.table({})
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in description]
        return pa.table(
            {
                d[0]: _to_arrow(list(values), d)
                for d, values in zip(description, columns, strict=True)
            }
        )

    def tables(self, schema: str | None = None) -> list[str]:
        rows = self._query(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
            "AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            [schema or self.namespace],
        )
        return [str(r[0]) for r in rows]

    # -- hooks ------------------------------------------------------------------------------

    def _execute(self, sql: str) -> None:
        with self._conn.cursor() as cur:
            cur.execute(sql)  # no arguments: PyMySQL leaves '%' in identifiers alone

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(sql, tuple(params) if params else None)
            return list(cur.fetchall())

    def _begin(self) -> None:
        self._conn.begin()

    def _commit(self) -> None:
        self._conn.commit()

    def _rollback(self) -> None:
        self._conn.rollback()

    def _use(self, database: str) -> None:
        """Make the URL's database the default for :meth:`read`, once it exists."""
        if database and self._query(
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [database]
        ):
            self._conn.select_db(database)

    def _ensure_namespace(self, namespace: str) -> None:
        exists = self._query(
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [namespace]
        )
        if not exists:
            self._execute(
                f"CREATE DATABASE IF NOT EXISTS {self.dialect.quote(namespace)} "
                f"CHARACTER SET utf8mb4 COLLATE {self._collation}"
            )
            if namespace == self.url.database:
                self._use(namespace)

    def _describe(self, ref: TableRef) -> ExistingTable | None:
        rows = self._query(
            "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_KEY FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            [ref.namespace, ref.name],
        )
        if not rows:
            return None
        columns = {str(name): self.dialect.parse(_text(raw)) for name, raw, _ in rows}
        return ExistingTable(columns, [str(name) for name, _, key in rows if key == "PRI"])

    def _table_options(self) -> str:
        return f" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={self._collation}"

    def _stage(self, ref: TableRef, source: NormalizedData) -> str:
        q = self.dialect.quote
        stage = f"{q(ref.namespace)}.{q('_strata_stage_' + uuid.uuid4().hex[:12])}"
        columns = ", ".join(
            f"{q(f.name)} {self.dialect.render(self.dialect.store(sql_type_of(f.type), False))}"
            for f in source.schema
        )
        self._execute(f"CREATE TEMPORARY TABLE {stage} ({columns}){self._table_options()}")
        if self.local_infile:
            self._stage_file(ref, stage, source)
        else:
            self._stage_inserts(stage, source)
        return stage

    def _stage_file(self, ref: TableRef, stage: str, source: NormalizedData) -> None:
        """Write the batches to a temporary file and LOAD DATA it, ~64 MiB at a time."""
        handle, path = tempfile.mkstemp(prefix="strata-", suffix=".csv")
        try:
            with os.fdopen(handle, "w+b") as out:
                for batch in source.batches():
                    _write_rows(out, batch)
                    if out.tell() >= CHUNK_BYTES:
                        self._load_file(ref, out, path, stage, source.schema)
                if out.tell():
                    self._load_file(ref, out, path, stage, source.schema)
        finally:
            os.unlink(path)

    def _load_file(
        self, ref: TableRef, out: IO[bytes], path: str, stage: str, schema: pa.Schema
    ) -> None:
        out.flush()
        q = self.dialect.quote
        targets, sets = [], []
        for index, f in enumerate(schema):
            if _is_binary(f.type):
                targets.append(f"@v{index}")
                sets.append(f"{q(f.name)} = UNHEX(@v{index})")
            else:
                targets.append(q(f.name))
        statement = (
            f"LOAD DATA LOCAL INFILE {self._conn.escape(path)} INTO TABLE {stage} "
            "CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' ESCAPED BY '\\\\' "
            f"LINES TERMINATED BY '\\n' ({', '.join(targets)})"
        )
        self._execute(statement + (f" SET {', '.join(sets)}" if sets else ""))
        problems = [w for w in self._query("SHOW WARNINGS LIMIT 3") if w[0] != "Note"]
        if problems:
            raise WarehouseError(ref.label, f"staging rejected a value: {problems[0][2]}")
        out.seek(0)
        out.truncate()

    def _stage_inserts(self, stage: str, source: NormalizedData) -> None:
        """Fallback without LOCAL INFILE: multi-row INSERT batches (PyMySQL executemany)."""
        names = ", ".join(self.dialect.quote(n) for n in source.schema.names)
        marks = ", ".join(["%s"] * len(source.schema))
        statement = f"INSERT INTO {stage.replace('%', '%%')} ({names.replace('%', '%%')}) "
        with self._conn.cursor() as cur:
            for batch in source.batches():
                columns = [_naive_utc(column).to_pylist() for column in batch.columns]
                cur.executemany(f"{statement}VALUES ({marks})", list(zip(*columns, strict=True)))

    def _check_stage(self, ref: TableRef, stage: str, plan: SchemaPlan) -> None:
        """Also refuse key strings longer than their VARCHAR, before any DDL runs."""
        super()._check_stage(ref, stage, plan)
        for c in plan.keys:
            if c.type.family in ("text", "binary") and c.type.size is not None:
                length = "CHAR_LENGTH" if c.type.family == "text" else "LENGTH"
                column = self.dialect.quote(c.source)
                if self._scalar(
                    f"SELECT COUNT(*) FROM {stage} WHERE {length}({column}) > {c.type.size}"
                ):
                    raise WarehouseError(
                        ref.label, f"key column {c.target!r} has values longer than {c.type.size}"
                    )

    def _drop_stage(self, stage: str) -> None:
        self._execute(f"DROP TEMPORARY TABLE IF EXISTS {stage}")

    def _discard_stage(self, stage: str) -> None:
        self._drop_stage(stage)

    def _drop_if_empty(self, ref: TableRef) -> None:
        table = self.dialect.table(ref)
        if not self._query(f"SELECT 1 FROM {table} LIMIT 1"):
            self._execute(f"DROP TABLE IF EXISTS {table}")

    def _alter_sql(self, ref: TableRef, plan: SchemaPlan) -> list[str]:
        if not (plan.adds or plan.widen):
            return []
        q, render = self.dialect.quote, self.dialect.render
        clauses = [f"ADD COLUMN {q(c.target)} {render(c.type)}" for c in plan.adds]
        clauses += [
            f"MODIFY COLUMN {q(c.target)} {render(c.type)}{' NOT NULL' if c.key else ''}"
            for c, _ in plan.widen
        ]
        return [f"ALTER TABLE {self.dialect.table(ref)} {', '.join(clauses)}"]

    def _merge(self, ref: TableRef, stage: str, plan: SchemaPlan) -> tuple[int | None, int | None]:
        """INSERT … SELECT … ORDER BY arrival ON DUPLICATE KEY UPDATE: the last row wins."""
        distinct, new = self._key_counts(ref, stage, plan)
        q = self.dialect.quote
        columns = self._update_columns(plan) or plan.keys[:1]
        updates = ", ".join(f"{q(c.target)} = VALUES({q(c.target)})" for c in columns)
        self._execute(
            f"{self._insert_sql(ref, stage, plan)} ORDER BY s.{q(SEQ_COLUMN)} "
            f"ON DUPLICATE KEY UPDATE {updates}"
        )
        return new, distinct - new

    def _describe_error(self, exc: Exception) -> str:
        return _message(exc)

    def _is_disconnect(self, exc: Exception) -> bool:
        if isinstance(exc, pymysql.InterfaceError):
            return True
        code = exc.args[0] if exc.args else None
        return isinstance(exc, pymysql.OperationalError) and code in _DISCONNECT_CODES


def _collation(version: str) -> str:
    """A binary, no-pad utf8mb4 collation the server has."""
    if "mariadb" in version.lower():
        return "utf8mb4_nopad_bin"
    major = re.match(r"\d+", version)
    return "utf8mb4_0900_bin" if major and int(major[0]) >= 8 else "utf8mb4_bin"


def _message(exc: BaseException) -> str:
    if len(exc.args) == 2 and isinstance(exc.args[0], int):
        return f"MySQL error {exc.args[0]}: {exc.args[1]}"
    return f"{type(exc).__name__}: {exc}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# -- the LOAD DATA file ------------------------------------------------------------------------

_ESCAPES = [("\\", "\\\\"), (",", "\\,"), ("\n", "\\n"), ("\r", "\\r"), ("\0", "\\0")]
_LARGE = pa.large_string()


def _is_binary(dtype: pa.DataType) -> bool:
    return pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype)


def _naive_utc(column: pa.Array) -> pa.Array:
    """Time-zone-aware timestamps as naive UTC (what a DATETIME(6) column stores)."""
    if pa.types.is_timestamp(column.type) and column.type.tz:
        return pc.cast(column, pa.timestamp("us"))
    return column


def _field_text(column: pa.Array) -> pa.Array:
    """One column as escaped text fields (large_string, NULL as ``\\N``)."""
    dtype = column.type
    if pa.types.is_boolean(dtype):
        text = pc.if_else(column, "1", "0")
    elif _is_binary(dtype):
        text = pa.array([None if v is None else v.hex() for v in column.to_pylist()], pa.string())
    elif pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        text = column
        for raw, escaped in _ESCAPES:
            text = pc.replace_substring(text, raw, escaped)
    else:
        text = pc.cast(_naive_utc(column), pa.string())
    return pc.fill_null(pc.cast(text, _LARGE), "\\N")


def _write_rows(out: IO[bytes], batch: pa.RecordBatch) -> None:
    """Append the batch as lines of comma-separated escaped fields."""
    fields = [_field_text(column) for column in batch.columns]
    rows = pc.binary_join_element_wise(*fields, pa.scalar(",", _LARGE))
    lines = pc.binary_join_element_wise(rows, pa.scalar("", _LARGE), pa.scalar("\n", _LARGE))
    out.write(_string_bytes(lines))


def _string_bytes(array: pa.Array) -> pa.Buffer:
    """The concatenated bytes of a large_string array without NULLs (no Python objects)."""
    offsets = np.frombuffer(
        array.buffers()[1], dtype=np.int64, count=len(array) + 1, offset=array.offset * 8
    )
    data = array.buffers()[2]
    return data[int(offsets[0]) : int(offsets[-1])]


# -- reading -----------------------------------------------------------------------------------

_READ_TYPES = {
    FIELD_TYPE.SHORT: pa.int16(),
    FIELD_TYPE.INT24: pa.int32(),
    FIELD_TYPE.LONG: pa.int32(),
    FIELD_TYPE.LONGLONG: pa.int64(),
    FIELD_TYPE.YEAR: pa.int16(),
    FIELD_TYPE.FLOAT: pa.float32(),
    FIELD_TYPE.DOUBLE: pa.float64(),
    FIELD_TYPE.DATE: pa.date32(),
    FIELD_TYPE.DATETIME: pa.timestamp("us"),
    FIELD_TYPE.TIMESTAMP: pa.timestamp("us"),
}
_TEXT_TYPES = {
    FIELD_TYPE.VARCHAR,
    FIELD_TYPE.VAR_STRING,
    FIELD_TYPE.STRING,
    FIELD_TYPE.TINY_BLOB,
    FIELD_TYPE.MEDIUM_BLOB,
    FIELD_TYPE.LONG_BLOB,
    FIELD_TYPE.BLOB,
    FIELD_TYPE.JSON,
}


def _to_arrow(values: list[Any], description: Sequence[Any]) -> pa.Array:
    """A result column as Arrow, typed from the column description where that is reliable."""
    type_code, length, scale = description[1], description[3], description[5]
    hint: pa.DataType | None = _READ_TYPES.get(type_code)
    if type_code == FIELD_TYPE.TINY and length == 1:  # BOOLEAN is TINYINT(1)
        values = [None if v is None else bool(v) for v in values]
        hint = pa.bool_()
    elif type_code == FIELD_TYPE.TINY:
        hint = pa.int8()
    elif type_code in (FIELD_TYPE.NEWDECIMAL, FIELD_TYPE.DECIMAL) and length:
        precision = length - 1 - (1 if scale else 0)
        hint = (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
    elif type_code == FIELD_TYPE.TIME:
        values = [_time_of_day(v) for v in values]
        hint = pa.time64("us")
    elif type_code in _TEXT_TYPES and all(v is None for v in values):
        hint = pa.string()  # TEXT and BLOB share type codes; values tell them apart otherwise
    try:
        return pa.array(values, hint)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(values)


def _time_of_day(value: Any) -> Any:
    if isinstance(value, dt.timedelta) and dt.timedelta(0) <= value < dt.timedelta(days=1):
        return (dt.datetime.min + value).time()
    return value
