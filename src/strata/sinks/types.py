"""Arrow → SQL type mapping and the widening rules shared by every warehouse backend.

A :class:`SqlType` is a backend-neutral description of a column type. Each backend's
:class:`~strata.sinks.base.Dialect` renders it as DDL, parses its own catalog's type names back
into it, and says how it actually stores a type (MySQL keys are ``VARCHAR(255)``, PostgreSQL has
no 1-byte integer, …). Schema evolution compares these neutral types, so the rules for what is a
safe change live here once, not per backend.

Incoming data is first *normalized* (:class:`NormalizedData`): every column is cast to one
canonical Arrow type per SQL type (dictionaries decoded, unsigned integers widened to the next
signed type, timestamps to microseconds), and a row-sequence column is appended so a merge can
let the last of several rows with one key win.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from strata.errors import ConfigError

SEQ_COLUMN = "__strata_seq"
"""Row number (0-based, in arrival order) added to every staged row; never stored in a target."""

# Decimal digits needed to hold every value of a signed integer of this many bits.
INT_DIGITS = {8: 3, 16: 5, 24: 8, 32: 10, 64: 19}


class UnsupportedType(Exception):
    """An Arrow type no warehouse column can hold (lists, structs, durations, …)."""


@dataclass(frozen=True)
class SqlType:
    """A backend-neutral column type.

    family: int | float | decimal | text | binary | bool | date | time | timestamp | timestamptz
    | other. `size` is the bit width (int, float), the precision (decimal; None = unbounded) or
    the maximum length (text, binary; None = unbounded). `scale` is the decimal scale. `raw` is
    the database's own name for a type Strata does not manage (family "other").
    """

    family: str
    size: int | None = None
    scale: int | None = None
    raw: str | None = None

    def __str__(self) -> str:
        if self.family == "other":
            return str(self.raw)
        if self.family == "decimal":
            return "decimal" if self.size is None else f"decimal({self.size},{self.scale})"
        if self.size is not None:
            return f"{self.family}({self.size})"
        return self.family


def decimal(precision: int | None, scale: int | None = 0) -> SqlType:
    """DECIMAL(precision, scale); precision None means unbounded (PostgreSQL NUMERIC)."""
    return SqlType("decimal", precision, None if precision is None else (scale or 0))


def canonical_type(dtype: pa.DataType) -> pa.DataType:
    """The Arrow type a column of `dtype` is converted to before it is staged."""
    if pa.types.is_dictionary(dtype):
        return canonical_type(dtype.value_type)
    unsigned = {pa.uint8(): pa.int16(), pa.uint16(): pa.int32(), pa.uint32(): pa.int64()}
    if dtype in unsigned:
        return unsigned[dtype]
    if dtype == pa.uint64():
        return pa.decimal128(20, 0)
    if pa.types.is_decimal256(dtype) and dtype.precision <= 38:
        return pa.decimal128(dtype.precision, dtype.scale)  # DuckDB ingests only decimal128
    if pa.types.is_float16(dtype):
        return pa.float32()
    if pa.types.is_timestamp(dtype):
        return pa.timestamp("us", dtype.tz)
    if pa.types.is_date(dtype):
        return pa.date32()
    if pa.types.is_time(dtype):
        return pa.time64("us")
    if pa.types.is_null(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_binary_view(dtype) or pa.types.is_fixed_size_binary(dtype):
        return pa.binary()
    if _is_plain(dtype):
        return dtype
    raise UnsupportedType(f"Arrow type {dtype} cannot be stored in a warehouse column")


def _is_plain(dtype: pa.DataType) -> bool:
    """Types that are staged as they are."""
    t = pa.types
    return (
        t.is_signed_integer(dtype)
        or t.is_floating(dtype)
        or t.is_decimal(dtype)
        or t.is_boolean(dtype)
        or t.is_string(dtype)
        or t.is_large_string(dtype)
        or t.is_binary(dtype)
        or t.is_large_binary(dtype)
    )


def sql_type_of(dtype: pa.DataType) -> SqlType:
    """The neutral SQL type of a *canonical* Arrow type (see :func:`canonical_type`)."""
    t = pa.types
    if t.is_signed_integer(dtype):
        return SqlType("int", dtype.bit_width)
    if t.is_floating(dtype):
        return SqlType("float", dtype.bit_width)
    if t.is_decimal(dtype):
        return decimal(dtype.precision, dtype.scale)
    if t.is_string(dtype) or t.is_large_string(dtype):
        return SqlType("text")
    if t.is_binary(dtype) or t.is_large_binary(dtype):
        return SqlType("binary")
    if t.is_timestamp(dtype):
        return SqlType("timestamptz" if dtype.tz else "timestamp")
    simple = {pa.bool_(): "bool", pa.date32(): "date", pa.time64("us"): "time"}
    if dtype in simple:
        return SqlType(simple[dtype])
    raise UnsupportedType(f"Arrow type {dtype} has no SQL type")


def unify(old: SqlType, new: SqlType) -> SqlType | None:
    """The column type that holds both the existing values (`old`) and the incoming ones (`new`).

    Returns `old` when incoming values already fit, a wider type for a safe widening, and None
    when no lossless common type exists (the change must be refused). A column of a type Strata
    does not manage ("other") is left alone: the database casts incoming values on insert.
    """
    if old == new or old.family == "other":
        return old
    if old.family == new.family:
        return _same_family(old, new)
    pair = {old.family, new.family}
    if pair == {"int", "float"}:
        return _int_float(old, new)
    if pair == {"int", "decimal"}:
        return _decimal_union(_as_decimal(old), _as_decimal(new))
    return None


def _same_family(old: SqlType, new: SqlType) -> SqlType:
    if old.family in ("int", "float"):
        return SqlType(old.family, max(old.size or 0, new.size or 0))
    if old.family in ("text", "binary"):
        if old.size is None or new.size is None:
            return SqlType(old.family)
        return SqlType(old.family, max(old.size, new.size))
    if old.family == "decimal":
        return _decimal_union(old, new)
    return old  # bool, date, time, timestamp, timestamptz: nothing to widen


def _int_float(old: SqlType, new: SqlType) -> SqlType | None:
    """int with float: a float wide enough to hold every integer exactly, else None."""
    integer, floating = (old, new) if old.family == "int" else (new, old)
    bits = integer.size or 64
    exact_bits = 32 if bits <= 16 else 64 if bits <= 32 else None
    if exact_bits is None:
        return None  # a 64-bit integer does not fit a double's 53-bit mantissa
    return SqlType("float", max(exact_bits, floating.size or 64))


def _as_decimal(t: SqlType) -> SqlType:
    if t.family == "int":
        return decimal(INT_DIGITS.get(t.size or 64, 19), 0)
    return t


def _decimal_union(a: SqlType, b: SqlType) -> SqlType:
    if a.size is None:
        return a
    if b.size is None:
        return b
    scale = max(a.scale or 0, b.scale or 0)
    integer_digits = max(a.size - (a.scale or 0), b.size - (b.scale or 0))
    return decimal(integer_digits + scale, scale)


class NormalizedData:
    """Incoming data as a stream of canonical batches, with a row-sequence column appended.

    Nothing is materialized: batches are converted one at a time as the consumer pulls them.
    `rows` counts the rows that went through (final once the stream was consumed).

    A load therefore holds only a few batches; what the *producer* buffers is its own. A
    pyarrow dataset scanner with ``use_threads=True`` decodes ahead into a queue that only
    pauses above 1 GiB (Acero's default backpressure, resuming below 256 MiB) whenever the
    database is slower than the decoding: ~550 MB more on a 10M-row COPY. A pull-based reader
    (``ParquetFile.iter_batches``, or a scanner with ``use_threads=False``) has no such queue.
    """

    def __init__(self, data: pa.Table | pa.RecordBatchReader | pa.RecordBatch) -> None:
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if isinstance(data, pa.Table):
            data = data.to_reader()
        if not isinstance(data, pa.RecordBatchReader):
            raise ConfigError(
                f"warehouse data must be a pyarrow Table or RecordBatchReader, not "
                f"{type(data).__name__}"
            )
        self._source = data
        self.source_schema: pa.Schema = data.schema
        _check_names(self.source_schema.names)
        fields = [pa.field(f.name, canonical_type(f.type)) for f in self.source_schema]
        self.data_schema = pa.schema(fields)
        self.schema = pa.schema([*fields, pa.field(SEQ_COLUMN, pa.int64())])
        self.rows = 0
        self.failure: Exception | None = None

    def batches(self, sequence: bool = True) -> Iterator[pa.RecordBatch]:
        """Canonical batches, each with the sequence column unless `sequence` is False (a load
        straight into the target has no use for it); consumable once.

        An exception from the source is kept in `failure` before it propagates, because a
        driver consuming the stream through Arrow's C interface reports only that it broke.
        """
        source = iter(self._source)
        while True:
            try:
                batch = next(source)
            except StopIteration:
                return
            except Exception as exc:
                self.failure = exc
                raise
            if batch.num_rows:
                yield self._canonical(batch, sequence)

    def _canonical(self, batch: pa.RecordBatch, sequence: bool = True) -> pa.RecordBatch:
        arrays = [
            _convert(column, field.type)
            for column, field in zip(batch.columns, self.data_schema, strict=True)
        ]
        start = self.rows
        self.rows += batch.num_rows
        if not sequence:
            return pa.RecordBatch.from_arrays(arrays, schema=self.data_schema)
        seq = pa.array(np.arange(start, self.rows, dtype=np.int64))
        return pa.RecordBatch.from_arrays([*arrays, seq], schema=self.schema)

    def reader(self) -> pa.RecordBatchReader:
        """:meth:`batches` as a RecordBatchReader (what ADBC and DuckDB consume)."""
        return pa.RecordBatchReader.from_batches(self.schema, self.batches())


def _convert(column: pa.Array, target: pa.DataType) -> pa.Array:
    if column.type == target:
        return column
    # Nanosecond timestamps/times are truncated to microseconds (the precision we store).
    lossy = (pa.types.is_timestamp(column.type) or pa.types.is_time(column.type)) and (
        column.type.unit == "ns"
    )
    return pc.cast(column, target, safe=not lossy)


def _check_names(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if not name:
            raise ConfigError("warehouse data has a column with an empty name")
        if name == SEQ_COLUMN:
            raise ConfigError(f"column name {SEQ_COLUMN!r} is reserved for Strata's staging")
        if name in seen:
            raise ConfigError(f"warehouse data has two columns named {name!r}")
        seen.add(name)
