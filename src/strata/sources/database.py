"""OLTP database sources: discover tables, stream them out as Arrow record batches.

PostgreSQL goes through the ADBC driver (binary COPY out, Arrow batches as they arrive);
MySQL/MariaDB through PyMySQL's unbuffered cursor, converted to Arrow a batch at a time. Either
way memory is bounded by the batch size, not the table size.

Incremental extraction uses a cursor column (`updated_at`, `last_updated`, …): one snapshot
transaction reads the cursor's current maximum, then the rows in `(after, upto]`. `upto` is the
new watermark; it is stored in the bronze load's manifest, which is written after the data, so
the watermark and the data it covers land together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from strata.db import DatabaseUrl, connect_postgres, redact
from strata.db.mysql import connect_mysql
from strata.errors import ConfigError, DatabaseUnavailable, SourceError, StrataError


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the database's type name, e.g. `timestamp without time zone`, `numeric`


@dataclass(frozen=True)
class TableInfo:
    """A source table: its columns (in order) and primary key."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        names = ", ".join(c.name for c in self.columns)
        raise SourceError(f"table {self.name} has no column {name!r} (columns: {names})")


@dataclass
class Extract:
    """One extraction: a stream of batches and the cursor value it covers up to."""

    reader: pa.RecordBatchReader
    upto: str | None = None


def quote(name: str, quote_char: str = '"') -> str:
    return quote_char + name.replace(quote_char, quote_char * 2) + quote_char


class DatabaseSource:
    """Reads tables of one PostgreSQL or MySQL/MariaDB database (`schema` = namespace)."""

    def __init__(self, url: str, *, schema: str | None = None, batch_rows: int = 100_000) -> None:
        """`batch_rows` sizes MySQL batches; PostgreSQL batches are sized by bytes (16 MiB)."""
        self.url = DatabaseUrl.parse(url)
        if self.url.kind not in _DIALECTS:
            raise ConfigError(f"{self.url} cannot be a database source (postgresql or mysql)")
        self.dialect = _DIALECTS[self.url.kind](self.url, schema, batch_rows)

    @property
    def schema(self) -> str:
        return self.dialect.schema

    def tables(self) -> list[str]:
        """The base tables of the schema, sorted."""
        return self.dialect.tables()

    def describe(self, table: str) -> TableInfo:
        info = self.dialect.describe(table)
        if not info.columns:
            known = ", ".join(self.tables()) or "none"
            raise SourceError(f"table {table!r} not found in {self.url} (tables: {known})")
        return info

    def extract(
        self,
        table: str,
        cursor: str | None = None,
        after: str | None = None,
        lookback_seconds: float = 0.0,
    ) -> Extract:
        """Stream `table`: everything, or with a cursor the rows changed after `after`.

        `lookback_seconds` re-reads that much before `after` on a timestamp cursor: a row
        written with an older timestamp by a transaction that committed after the previous
        extract is picked up (the copies it re-reads are deduplicated by key downstream).
        """
        info = self.describe(table)
        if cursor is not None:
            kind = info.column(cursor).type.lower()
            if lookback_seconds and not kind.startswith(("timestamp", "datetime", "date")):
                raise ConfigError(f"lookback needs a date/time cursor; {table}.{cursor} is {kind}")
        if after is None:
            lookback_seconds = 0.0
        return self.dialect.extract(info, cursor, after, lookback_seconds)

    def close(self) -> None:
        self.dialect.close()

    def __enter__(self) -> DatabaseSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Postgres:
    def __init__(self, url: DatabaseUrl, schema: str | None, batch_rows: int) -> None:
        self.schema = schema or "public"
        self.label = str(url)
        self.con = connect_postgres(url)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.con.cursor() as cur:
            cur.execute(sql, parameters=params or None)
            return list(cur.fetchall())

    def tables(self) -> list[str]:
        rows = self._rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 "
            "AND table_type = 'BASE TABLE' ORDER BY table_name",
            (self.schema,),
        )
        self.con.rollback()
        return [r[0] for r in rows]

    def describe(self, table: str) -> TableInfo:
        relation = (f"{quote(self.schema)}.{quote(table)}",)
        # format_type gives a name CAST accepts (enums, domains, arrays, typmods included).
        columns = self._rows(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum",
            relation,
        )
        keys = self._rows(
            "SELECT a.attname FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = to_regclass($1) AND i.indisprimary "
            "ORDER BY array_position(i.indkey, a.attnum)",
            relation,
        )
        self.con.rollback()
        return TableInfo(table, tuple(Column(n, t) for n, t in columns), tuple(k[0] for k in keys))

    def extract(
        self, info: TableInfo, cursor: str | None, after: str | None, lookback: float
    ) -> Extract:
        target = f"{quote(self.schema)}.{quote(info.name)}"
        # One snapshot for the max and the rows: a change committed in between cannot be missed
        # or read twice. Rolled back when the stream is exhausted (nothing was written).
        self.con.rollback()
        with self.con.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        where, upto = "", None
        if cursor is not None:
            col_type = info.column(cursor).type
            upto = self._scalar(f"SELECT CAST(max({quote(cursor)}) AS text) FROM {target}")
            if upto is None:
                where = " WHERE false"
            else:
                # Literals, not bind parameters: the driver streams a parameterless query with
                # COPY, but buffers the whole result of a parameterised one in libpq.
                where = f" WHERE {quote(cursor)} <= CAST({_literal(upto)} AS {col_type})"
                if after is not None:
                    low = f"CAST({_literal(after)} AS {col_type})"
                    if lookback:
                        low += f" - make_interval(secs => {float(lookback)!r})"
                    where += f" AND {quote(cursor)} > {low}"
        cur = self.con.cursor()
        try:
            cur.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(16 * 1024 * 1024)}
            )
            cur.execute(f"SELECT * FROM {target}{where}")
            reader = cur.fetch_record_batch()
            schema = _plain_schema(reader.schema)
        except Exception as exc:
            cur.close()
            self.con.rollback()
            raise _mapped(exc, f"reading {target}", self.label) from None

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for batch in reader:
                    yield _plain_batch(batch, schema, target)
            except StrataError:
                raise
            except Exception as exc:
                raise _mapped(exc, f"reading {target}", self.label) from None
            finally:
                cur.close()
                self.con.rollback()

        stream = pa.RecordBatchReader.from_batches(schema, batches())
        return Extract(stream, upto if upto is not None else after)

    def _scalar(self, sql: str) -> Any:
        with self.con.cursor() as cur:
            cur.execute(sql)
            row = cur.fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self.con.close()


def _numeric_type(field: pa.Field) -> pa.DataType:
    """PostgreSQL NUMERIC(p, s) (an opaque string column in ADBC) as an Arrow decimal."""
    meta = field.metadata or {}
    typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
    if typmod < 4:
        return pa.string()  # unconstrained NUMERIC: no safe fixed precision; keep the text
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    if precision > 76:
        return pa.string()
    return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)


def _plain_field(field: pa.Field) -> pa.Field:
    kind = field.type
    if isinstance(kind, pa.BaseExtensionType):
        meta = field.metadata or {}
        is_numeric = meta.get(b"POSTGRESQL:type") == b"numeric"
        kind = _numeric_type(field) if is_numeric else kind.storage_type
    return pa.field(field.name, kind, field.nullable)


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """Driver-specific extension types replaced by plain Arrow types, metadata dropped."""
    return pa.schema([_plain_field(f) for f in schema])


def _plain_batch(batch: pa.RecordBatch, schema: pa.Schema, where: str) -> pa.RecordBatch:
    arrays = []
    for column, target in zip(batch.columns, schema, strict=True):
        if isinstance(column.type, pa.BaseExtensionType):
            column = column.storage
        if column.type != target.type:
            try:
                column = column.cast(target.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SourceError(
                    f"{where}: column {target.name} holds a value that is not "
                    f"{target.type} ({exc}); e.g. NUMERIC 'NaN' has no decimal form"
                ) from exc
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


_MYSQL_TYPES: dict[str, pa.DataType] = {
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "mediumint": pa.int32(),
    "int": pa.int32(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "year": pa.int16(),
    "float": pa.float32(),
    "double": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "timestamp": pa.timestamp("us"),
    "time": pa.duration("us"),
    **{
        name: pa.binary()
        for name in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
    },
}
# An unsigned integer needs the next wider signed type (BIGINT UNSIGNED: uint64).
_UNSIGNED: dict[str, pa.DataType] = {
    "tinyint": pa.int16(),
    "smallint": pa.int32(),
    "mediumint": pa.int32(),
    "int": pa.int64(),
    "integer": pa.int64(),
    "bigint": pa.uint64(),
}


def mysql_arrow_type(
    data_type: str, precision: int | None, scale: int | None, column_type: str = ""
) -> pa.DataType:
    """The Arrow type a MySQL/MariaDB column is extracted as (text for anything else)."""
    if data_type == "decimal":
        digits = precision or 10
        if digits > 38:
            return pa.decimal256(digits, scale or 0)
        return pa.decimal128(digits, scale or 0)
    if "unsigned" in column_type.lower() and data_type in _UNSIGNED:
        return _UNSIGNED[data_type]
    return _MYSQL_TYPES.get(data_type, pa.string())


class _MySql:
    def __init__(self, url: DatabaseUrl, schema: str | None, batch_rows: int) -> None:
        import pymysql

        self.schema = schema or url.database
        self.label = str(url)
        self.batch_rows = batch_rows
        self._pymysql = pymysql
        self.con = connect_mysql(url)
        self._types: dict[str, pa.Schema] = {}

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.con.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def tables(self) -> list[str]:
        rows = self._rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE' ORDER BY table_name",
            (self.schema,),
        )
        return [r[0] for r in rows]

    def describe(self, table: str) -> TableInfo:
        rows = self._rows(
            "SELECT column_name, data_type, numeric_precision, numeric_scale, column_key, "
            "column_type "
            "FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            (self.schema, table),
        )
        self._types[table] = pa.schema(
            [pa.field(r[0], mysql_arrow_type(r[1], r[2], r[3], r[5])) for r in rows]
        )
        primary = self._rows(
            "SELECT column_name FROM information_schema.key_column_usage "
            "WHERE table_schema = %s AND table_name = %s AND constraint_name = 'PRIMARY' "
            "ORDER BY ordinal_position",
            (self.schema, table),
        )
        keys = tuple(r[0] for r in primary)
        return TableInfo(table, tuple(Column(r[0], r[1]) for r in rows), keys)

    def extract(
        self, info: TableInfo, cursor: str | None, after: str | None, lookback: float
    ) -> Extract:
        target = f"{quote(self.schema, '`')}.{quote(info.name, '`')}"
        schema = self._types[info.name]
        self.con.rollback()
        with self.con.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        where, params, upto = "", [], None
        if cursor is not None:
            col = quote(cursor, "`")
            rows = self._rows(f"SELECT CAST(max({col}) AS CHAR) FROM {target}")
            upto = rows[0][0] if rows else None
            if upto is None:
                where = " WHERE false"
            else:
                where, params = f" WHERE {col} <= %s", [upto]
                if after is not None and lookback:
                    where += f" AND {col} > TIMESTAMPADD(MICROSECOND, %s, %s)"
                    params += [-round(lookback * 1_000_000), after]
                elif after is not None:
                    where += f" AND {col} > %s"
                    params.append(after)
        order = ", ".join(quote(k, "`") for k in info.primary_key)
        sql = f"SELECT * FROM {target}{where}" + (f" ORDER BY {order}" if order else "")
        cur = self.con.cursor(self._pymysql.cursors.SSCursor)
        try:
            cur.execute(sql, tuple(params))
        except self._pymysql.MySQLError as exc:
            cur.close()
            self.con.rollback()
            raise _mapped(exc, f"reading {target}", self.label) from None

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                while rows := cur.fetchmany(self.batch_rows):
                    columns = list(zip(*rows, strict=True))
                    arrays = [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)]
                    yield pa.RecordBatch.from_arrays(arrays, schema=schema)
            except self._pymysql.MySQLError as exc:
                raise _mapped(exc, f"reading {target}", self.label) from None
            finally:
                cur.close()
                self.con.rollback()

        stream = pa.RecordBatchReader.from_batches(schema, batches())
        return Extract(stream, upto if upto is not None else after)

    def close(self) -> None:
        self.con.close()


_DIALECTS: dict[str, Any] = {"postgresql": _Postgres, "mysql": _MySql}


def _literal(value: str) -> str:
    """A SQL string literal (standard quoting: a quote inside is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _mapped(exc: BaseException, what: str, url: str) -> StrataError:
    """A driver error as Strata's: a lost or refused connection is transient, the rest not."""
    reason = _first_line(exc)
    if type(exc).__name__ == "OperationalError" or "connect" in reason.lower():
        return DatabaseUnavailable(url, f"{what}: {reason}")
    return SourceError(f"{url}: {what}: {reason}")


def _first_line(exc: BaseException) -> str:
    """The driver's message, first line only, with any password removed."""
    return redact(str(exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
