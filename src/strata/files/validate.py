"""Validation of landed CSV files (the sales files of the S3 → MySQL ETL pipeline).

`validate_csv` checks one file and returns a :class:`Verdict`: either ``ok`` with the parsed,
typed rows (an Arrow table), or not ok with the :class:`Problem` list that goes into the reason
file beside a rejected file. A bad file is a verdict, never an exception; only bad arguments
(:class:`ConfigError`) and unreadable paths (:class:`SourceError`) raise.

Checks, in order: empty file / no data rows; strict UTF-8 (a BOM is accepted and stripped); the
delimiter (``,`` ``;`` tab ``|``, chosen from the header); the header (required columns, matched
case-insensitively after trimming; duplicates); the shape of every row; the type of every
required value (empty values are NULLs). Parsing is pyarrow.csv plus vectorised compute kernels;
Python loops run only over the few values needed to locate a problem.

A file is first read in one pass with its integer and date columns typed by the CSV reader and
its decimals cast straight from the text, which proves most good files good at once. Anything
that pass cannot settle (a value that does not convert, a row of the wrong width, a value over
several lines) sends the file through the checks above, which find and locate each problem; both
ways give the same verdict.

The table of a good file holds the required columns (declared order, names and types), then
``additional_column`` (the extra columns' values joined with ``", "``, as the seed does) and
``extra_columns`` (a JSON object name → value), both NULL when the file has no extra columns,
then ``_source_file`` and ``_source_line`` (the row's line in the file, the header being line 1).
Rows whose fields are all empty (blank lines, lines of bare delimiters) carry nothing and are
skipped; they still count for line numbers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from strata.errors import ConfigError, SourceError

__all__ = [
    "DELIMITERS",
    "SALES_COLUMNS",
    "ColumnSpec",
    "Problem",
    "Verdict",
    "validate_csv",
]

DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_BOM = b"\xef\xbb\xbf"
_SHOWN_VALUE = 40  # characters of a bad value quoted in a problem
_INT64_DIGITS = 18  # any string of at most this many digits fits in an int64


@dataclass(frozen=True)
class ColumnSpec:
    """A required column and the Arrow type its values must parse as."""

    name: str
    type: pa.DataType


SALES_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("customer_id", pa.int64()),
    ColumnSpec("store_id", pa.int64()),
    ColumnSpec("product_name", pa.string()),
    ColumnSpec("sales_date", pa.date32()),
    ColumnSpec("sales_person_id", pa.int64()),
    ColumnSpec("price", pa.decimal128(10, 2)),
    ColumnSpec("quantity", pa.int64()),
    ColumnSpec("total_cost", pa.decimal128(12, 2)),
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file; `line` is 1-based with the header as line 1."""

    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if where:
            return f"{self.file} {', '.join(where)}: {self.message}"
        return f"{self.file}: {self.message}"


@dataclass
class Verdict:
    """The outcome of validating one file.

    `problems` lists at most `max_problems` of them (earliest lines first); `more_problems`
    counts the ones found beyond that. `rows` counts the non-blank data rows read.
    """

    file: str
    ok: bool
    problems: list[Problem]
    table: pa.Table | None
    rows: int
    extra_columns: list[str]
    delimiter: str
    encoding: str
    more_problems: int = 0

    def reason_text(self, limit: int = 100) -> str:
        """The body of the reason file written beside a rejected file: one problem a line."""
        if self.ok:
            return ""
        lines = [str(p) for p in self.problems[:limit]]
        more = max(len(self.problems) - limit, 0) + self.more_problems
        if more:
            lines.append(f"… and {more} more")
        return "\n".join(lines) + "\n"


def validate_csv(
    name: str,
    data: bytes | bytearray | memoryview | PathLike[str] | BinaryIO,
    columns: Sequence[ColumnSpec] = SALES_COLUMNS,
    *,
    max_problems: int = 100,
    exact: bool = False,
) -> Verdict:
    """Validate one CSV file (`name` is how problems refer to it) against `columns`.

    With `exact`, the header must be exactly `columns`, in order (the weather_sales seed's
    schema gate): anything else is one problem naming the missing and the extra columns."""
    _check_arguments(columns, max_problems)
    raw = _read(name, data)
    check = _Check(name, columns, max_problems, exact)
    table = check.run(raw)
    problems, more = check.finish()
    return Verdict(
        file=name,
        ok=not problems,
        problems=problems,
        table=None if problems else table,
        rows=check.rows,
        extra_columns=[n for _, n in check.extras],
        delimiter=check.delimiter,
        encoding=check.encoding,
        more_problems=more,
    )


def _check_arguments(columns: Sequence[ColumnSpec], max_problems: int) -> None:
    if not columns:
        raise ConfigError("validate_csv needs at least one required column")
    keys = [_key(c.name) for c in columns]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"duplicate required column names: {[c.name for c in columns]}")
    if max_problems < 1:
        raise ConfigError(f"max_problems must be at least 1, not {max_problems}")


def _read(name: str, data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        raise ConfigError(f"validate_csv({name!r}): pass bytes or a Path, not a str")
    try:
        if isinstance(data, PathLike):
            with open(data, "rb") as fh:
                return fh.read()
        if hasattr(data, "read"):
            content = data.read()
            if isinstance(content, bytes):
                return content
    except OSError as exc:
        raise SourceError(f"cannot read {name}: {exc}") from exc
    raise ConfigError(f"validate_csv({name!r}): cannot read data of type {type(data).__name__}")


def _key(column: str) -> str:
    return column.strip().lower()


def _blank(data: bytes) -> bool:
    """`not data.strip()`, without copying the data."""
    return not data or data.isspace()


class _Check:
    """One validation run: the checks in order, collecting problems as they go."""

    def __init__(
        self, name: str, columns: Sequence[ColumnSpec], max_problems: int, exact: bool = False
    ) -> None:
        self.name = name
        self.exact = exact
        self.columns = list(columns)
        self.max = max_problems
        self.found: list[Problem] = []
        self.total = 0
        self.rows = 0
        self.delimiter = ""
        self.encoding = "utf-8"
        self.positions: list[int] = []  # header position of each required column
        self.extras: list[tuple[int, str]] = []  # (header position, name) of extra columns
        self.width = 0

    # -- problems -------------------------------------------------------------------------------

    def problem(self, line: int | None, column: str | None, message: str) -> None:
        self.add([Problem(self.name, line, column, message)])

    def add(self, problems: Iterable[Problem], total: int | None = None) -> None:
        listed = list(problems)
        self.found.extend(listed)
        self.total += len(listed) if total is None else total

    def finish(self) -> tuple[list[Problem], int]:
        ordered = sorted(self.found, key=lambda p: p.line or 0)[: self.max]
        return ordered, self.total - len(ordered)

    # -- the checks -----------------------------------------------------------------------------

    def run(self, raw: bytes) -> pa.Table | None:
        if raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
            self.encoding = "utf-8-sig"
        if _blank(raw):
            self.problem(None, None, "empty file")
            return None
        if not self.check_encoding(raw):
            return None
        end = raw.find(b"\n")
        header = (raw if end < 0 else raw[:end]).decode("utf-8").rstrip("\r")
        body = b"" if end < 0 else raw[end + 1 :]
        if _blank(body):
            self.problem(1, None, "no data rows (the file has only a header)")
        if not self.check_header(header) or _blank(body):
            return None
        fast = self.check_body_fast(body)
        if fast is not None:
            return fast
        return self.check_body(body)

    def check_encoding(self, raw: bytes) -> bool:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            offset = exc.start + (len(_BOM) if self.encoding == "utf-8-sig" else 0)
            column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
            message = (
                f"not UTF-8 at line {line}, byte {offset} "
                f"(byte 0x{raw[exc.start]:02x}, position {column} in the line)"
            )
            self.problem(line, None, message)
            return False
        return True

    def check_header(self, header: str) -> bool:
        self.delimiter, names = _detect_delimiter(header, [c.name for c in self.columns])
        if not self.delimiter:
            tried = " ".join(repr(d) for d in DELIMITERS)
            self.problem(1, None, f"cannot detect the delimiter (tried {tried})")
            return False
        names = [n.strip() or f"column_{i + 1}" for i, n in enumerate(names)]
        self.width = len(names)
        first: dict[str, int] = {}
        ok = True
        for i, column in enumerate(names):
            seen = first.setdefault(_key(column), i)
            if seen != i:
                self.problem(1, column, f"duplicate column name (columns {seen + 1} and {i + 1})")
                ok = False
        for spec in self.columns:
            if _key(spec.name) not in first:
                self.problem(1, spec.name, f"required column {spec.name!r} is missing")
                ok = False
        required = {_key(c.name) for c in self.columns}
        self.positions = [first.get(_key(c.name), -1) for c in self.columns]
        self.extras = [(i, n) for i, n in enumerate(names) if _key(n) not in required]
        if ok and self.exact:
            ok = self.check_exact(names)
        return ok

    def check_exact(self, names: list[str]) -> bool:
        """The header is the expected columns in the expected order, nothing more."""
        expected = [c.name for c in self.columns]
        if [_key(n) for n in names] == [_key(n) for n in expected]:
            return True
        missing = [n for n in expected if _key(n) not in {_key(m) for m in names}]
        extra = [n for _, n in self.extras]
        message = f"columns differ from the expected schema {expected}: missing {missing}, "
        message += f"extra {extra}" + ("" if missing or extra else " (order differs)")
        self.problem(1, None, message)
        return False

    def check_body_fast(self, body: bytes) -> pa.Table | None:
        """The table of a file without problems, in one pass; None when that pass cannot tell.

        The CSV reader types the integer and date columns (it accepts exactly what the checks
        of `check_body` accept, or less); decimals are cast from the unchanged text (a cast
        that accepts no surrounding whitespace, so what it accepts is what `_convert` gives);
        other columns go through `_convert`. Any rejected value, row of the wrong width or
        value spanning lines returns None, and `check_body` then finds and locates it.
        """
        types = [pa.string()] * self.width
        for spec, position in self._required():
            if _csv_types(spec.type):
                types[position] = spec.type
        parsed = _parse_typed(body, types, self.delimiter)
        if parsed is None:
            return None
        physical_lines = body.count(b"\n") + (not body.endswith(b"\n"))
        if physical_lines != parsed.num_rows:  # a quoted value holds a line break
            return None
        keep = _non_blank(parsed)
        lines = np.arange(2, parsed.num_rows + 2, dtype=np.int64)
        table = parsed
        if not keep.all():
            lines, table = lines[keep], table.filter(_arrow(keep))
        typed = []
        for spec, position in self._required():
            values = table.column(position)
            if _csv_types(spec.type):
                typed.append(values)
                continue
            converted = _cast_exact(values, spec.type)
            if converted is None:
                return None
            typed.append(converted)
        self.rows = table.num_rows
        return self.assemble(table, typed, lines)

    def check_body(self, body: bytes) -> pa.Table | None:
        parsed = _parse(body, self.width, self.delimiter)
        if isinstance(parsed, str):
            self.problem(None, None, f"cannot parse the file as CSV: {parsed}")
            return None
        table, invalid = parsed
        physical_lines = body.count(b"\n") + (not body.endswith(b"\n"))
        lines = _row_lines(
            table, invalid, one_line_each=physical_lines == table.num_rows + len(invalid)
        )
        self.check_shape(invalid, lines)
        keep = _non_blank(table)
        row_lines = lines[_valid_mask(invalid, table.num_rows)][keep]
        table = table.filter(_arrow(keep))
        self.rows = table.num_rows + len(invalid)
        typed = [self.check_column(spec, table, pos, row_lines) for spec, pos in self._required()]
        if self.total:
            return None
        return self.assemble(table, typed, row_lines)

    def _required(self) -> list[tuple[ColumnSpec, int]]:
        return list(zip(self.columns, self.positions, strict=True))

    def check_shape(self, invalid: list[_BadRow], lines: np.ndarray) -> None:
        listed = [
            Problem(
                self.name,
                int(lines[bad.number - 1]),
                None,
                f"expected {self.width} fields, found {bad.fields}"
                + (" (truncated row?)" if bad.fields < self.width else ""),
            )
            for bad in invalid[: self.max]
        ]
        self.add(listed, total=len(invalid))

    def check_column(
        self, spec: ColumnSpec, table: pa.Table, position: int, lines: np.ndarray
    ) -> pa.ChunkedArray:
        values = table.column(position)
        typed, bad = _convert(values, spec.type)
        if bad is not None:
            indexes = np.flatnonzero(bad)
            shown = values.take(_arrow(indexes[: self.max])).to_pylist()
            listed = [
                Problem(self.name, int(lines[i]), spec.name, _not_a(v, spec.type))
                for i, v in zip(indexes[: self.max], shown, strict=True)
            ]
            self.add(listed, total=len(indexes))
        return typed

    def assemble(
        self, table: pa.Table, typed: list[pa.ChunkedArray], lines: np.ndarray
    ) -> pa.Table:
        n = table.num_rows
        extras = [table.column(i) for i, _ in self.extras]
        additional, as_json = _extra_values(extras, [name for _, name in self.extras], n)
        arrays = [
            *typed,
            additional,
            as_json,
            pa.repeat(pa.scalar(self.name, pa.string()), n),
            _arrow(lines),
        ]
        names = [
            *(c.name for c in self.columns),
            "additional_column",
            "extra_columns",
            "_source_file",
            "_source_line",
        ]
        return pa.Table.from_arrays(arrays, names=names)


# -- header ---------------------------------------------------------------------------------------


def _detect_delimiter(header: str, required: list[str]) -> tuple[str, list[str]]:
    """The delimiter splitting `header` into the most required names (then the most fields)."""
    wanted = {_key(n) for n in required}
    best: tuple[int, int] = (0, 1)
    chosen, names = "", [header]
    for delimiter in DELIMITERS:
        fields = next(csv.reader([header], delimiter=delimiter), [])
        score = (len(wanted & {_key(f) for f in fields}), len(fields))
        if score > best:
            best, chosen, names = score, delimiter, fields
    return chosen, names


# -- rows -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _BadRow:
    number: int  # physical row in the body, 1-based
    fields: int
    newlines: int  # line breaks inside the row (quoted values)


def _parse(body: bytes, width: int, delimiter: str) -> tuple[pa.Table, list[_BadRow]] | str:
    """Every field as a string (empty → NULL); rows of the wrong width go to the list.

    A parse failure pyarrow cannot attribute to a row comes back as its message.
    """
    invalid: list[_BadRow] = []

    def on_invalid(row: Any) -> str:
        number = row.number if row.number is not None else len(invalid) + 1
        invalid.append(_BadRow(number, row.actual_columns, row.text.count("\n")))
        return "skip"

    try:
        # single-threaded so the invalid-row handler learns each row's number
        table = _read_csv(body, [pa.string()] * width, delimiter, on_invalid, threads=False)
    except pa.ArrowInvalid as exc:
        return str(exc)
    invalid.sort(key=lambda r: r.number)
    return table, invalid


def _parse_typed(body: bytes, types: list[pa.DataType], delimiter: str) -> pa.Table | None:
    """`body` read with each field as `types` says (empty → NULL); None when any row has the
    wrong width or any value does not convert."""
    invalid = 0

    def on_invalid(row: Any) -> str:
        nonlocal invalid
        invalid += 1
        return "skip"

    try:
        # threads: an invalid row only needs counting here, not numbering
        table = _read_csv(body, types, delimiter, on_invalid, threads=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return None if invalid else table


def _read_csv(
    body: bytes, types: list[pa.DataType], delimiter: str, on_invalid: Any, *, threads: bool
) -> pa.Table:
    """`body` without header, field i typed as `types[i]` (empty → NULL); rows of the wrong
    width go to `on_invalid`."""
    names = [f"f{i}" for i in range(len(types))]
    return pa_csv.read_csv(
        pa.py_buffer(body),
        read_options=pa_csv.ReadOptions(column_names=names, use_threads=threads),
        parse_options=pa_csv.ParseOptions(
            delimiter=delimiter,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict(zip(names, types, strict=True)),
            strings_can_be_null=True,
            null_values=[""],
        ),
    )


def _valid_mask(invalid: list[_BadRow], valid_rows: int) -> np.ndarray:
    mask = np.ones(valid_rows + len(invalid), dtype=bool)
    mask[[r.number - 1 for r in invalid]] = False
    return mask


def _row_lines(table: pa.Table, invalid: list[_BadRow], *, one_line_each: bool) -> np.ndarray:
    """The line each physical row starts on (header = line 1), indexed by row number - 1.

    Rows span more than one line only when quoted values hold line breaks.
    """
    count = table.num_rows + len(invalid)
    if one_line_each:
        return np.arange(2, count + 2, dtype=np.int64)
    breaks = np.zeros(count, dtype=np.int64)
    valid = _valid_mask(invalid, table.num_rows)
    inside = np.zeros(table.num_rows, dtype=np.int64)
    for column in table.columns:
        inside += _numpy(pc.fill_null(pc.count_substring(column, "\n"), 0))
    breaks[valid] = inside
    for bad in invalid:
        breaks[bad.number - 1] = bad.newlines
    spans = breaks + 1
    return np.concatenate(([2], 2 + np.cumsum(spans)[:-1])).astype(np.int64)


def _non_blank(table: pa.Table) -> np.ndarray:
    """Rows with at least one non-empty field (blank lines parse as all-NULL rows)."""
    keep = np.zeros(table.num_rows, dtype=bool)
    for column in table.columns:
        keep |= _mask(pc.is_valid(column))
    return keep


def _mask(values: Any) -> np.ndarray:
    """A boolean Arrow array or chunked array (no NULLs) as a numpy mask."""
    return np.asarray(_numpy(values), dtype=bool)


def _arrow(values: np.ndarray) -> pa.Array:
    """A numpy bool or integer array as an Arrow bool or int64 array."""
    if values.dtype == np.bool_:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def _numpy(values: Any) -> np.ndarray:
    """A boolean or integer Arrow array (or chunked array) without NULLs as numpy."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_boolean(values.type):  # bit-packed
        return _numpy(values.cast(pa.uint8())).astype(bool)
    dtype = np.dtype(values.type.to_pandas_dtype())
    data = values.buffers()[1]
    if data is None:
        return np.zeros(len(values), dtype=dtype)
    return np.frombuffer(
        data, dtype=dtype, count=len(values), offset=values.offset * dtype.itemsize
    )


# -- types ----------------------------------------------------------------------------------------


def _convert(values: pa.ChunkedArray, type_: pa.DataType) -> tuple[pa.ChunkedArray, Any]:
    """`values` cast to `type_`, and a boolean numpy mask of the bad ones (None if none)."""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return values.cast(type_), None
    text = pc.utf8_trim_whitespace(values)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    if pa.types.is_integer(type_):
        text = pc.replace_substring_regex(text, r"^\+", "")
    if not pa.types.is_decimal(type_) or _all_decimal_shaped(text, type_):
        try:
            return pc.cast(text, type_), None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    bad = _bad_values(text, type_)
    try:
        return pc.cast(_blank_out(text, bad), type_), bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # the patterns let something through that the cast refuses: check every value left
    values = text.to_pylist()
    for i in np.flatnonzero(~bad):
        bad[i] = values[i] is not None and not _parses(values[i], type_)
    return pc.cast(_blank_out(text, bad), type_), bad


def _csv_types(type_: pa.DataType) -> bool:
    """Whether the CSV reader converts text to `type_` exactly as `_convert` does, or refuses.

    Integers and dates: the reader trims spaces and tabs as `_convert` trims whitespace and
    parses with the same parser as the cast (it refuses a leading `+`, which `_convert` drops,
    and any other whitespace: `check_body` then decides). Not decimals: the reader does not
    check the precision, and rescales huge exponents without checking for overflow.
    """
    return pa.types.is_integer(type_) or pa.types.is_date32(type_)


def _cast_exact(values: pa.ChunkedArray, type_: pa.DataType) -> pa.ChunkedArray | None:
    """`values` as `type_`, as `_convert` gives them; None if any value is not `type_`.

    Decimals are cast as they stand once every value has the plain decimal shape (no
    surrounding whitespace, so trimming first, as `_convert` does, would change nothing).
    """
    if pa.types.is_decimal128(type_) and _all_decimal_shaped(values, type_):
        try:
            return pc.cast(values, type_)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    typed, bad = _convert(values, type_)
    return None if bad is not None else typed


def _all_decimal_shaped(text: pa.ChunkedArray, type_: pa.DataType) -> bool:
    """Whether every non-null value matches the decimal pattern of `type_`.

    Checked before any cast from text to decimal: Arrow's parser crashes the process on some
    huge exponents (pyarrow 26: '2e-94598964' to decimal128(4,3) is a segfault), and the
    pattern admits no exponent at all.
    """
    shaped = pc.match_substring_regex(text, _decimal_pattern(type_.precision, type_.scale))
    return bool(pc.all(shaped, skip_nulls=True).as_py() is not False)


def _blank_out(text: pa.ChunkedArray, bad: np.ndarray) -> Any:
    return pc.if_else(_arrow(bad), pa.scalar(None, pa.string()), text)


def _bad_values(text: pa.ChunkedArray, type_: pa.DataType) -> np.ndarray:
    """Which non-null values of `text` do not parse as `type_` (vectorised where possible)."""
    present = pc.is_valid(text)
    if pa.types.is_integer(type_):
        ok = pc.match_substring_regex(text, r"^-?[0-9]+$")
    elif pa.types.is_decimal(type_):
        shaped = pc.match_substring_regex(text, _decimal_pattern(type_.precision, type_.scale))
        ok = pc.and_(shaped, pc.match_substring_regex(text, "[0-9]"))
    elif pa.types.is_date32(type_):
        ok = _is_iso_date(text)
    else:
        ok = pc.is_valid(text)
    bad = _mask(pc.and_(present, pc.invert(pc.fill_null(ok, False))))
    # the patterns are necessary, not sufficient (int64 range, unusual types): confirm the rest
    suspects = np.flatnonzero(~bad & _mask(present))
    if pa.types.is_integer(type_):
        lengths = _numpy(pc.fill_null(pc.utf8_length(text), 0))
        suspects = suspects[lengths[suspects] > _INT64_DIGITS]
    elif pa.types.is_decimal(type_) or pa.types.is_date32(type_):
        suspects = suspects[:0]
    for i, value in zip(suspects, text.take(_arrow(suspects)).to_pylist(), strict=True):
        bad[i] = not _parses(value, type_)
    return bad


def _decimal_pattern(precision: int, scale: int) -> str:
    whole = f"0*[0-9]{{0,{precision - scale}}}"
    fraction = f"(\\.[0-9]{{0,{scale}}}0*)?" if scale else r"(\.0*)?"
    return f"^[+-]?{whole}{fraction}$"


def _is_iso_date(text: pa.ChunkedArray) -> Any:
    shaped = pc.match_substring_regex(text, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    candidate = pc.if_else(shaped, text, pa.scalar(None, pa.string()))
    parsed = pc.strptime(candidate, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2023-02-30 over to 2023-03-02: keep only dates that print back the same
    return pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), candidate)


def _parses(value: str, type_: pa.DataType) -> bool:
    try:
        pa.array([value], pa.string()).cast(type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _not_a(value: str, type_: pa.DataType) -> str:
    shown = value.strip() if len(value) <= _SHOWN_VALUE else value[:_SHOWN_VALUE] + "…"
    return f"{shown!r} is not {_describe(type_)}"


def _describe(type_: pa.DataType) -> str:
    if pa.types.is_integer(type_):
        return "an integer" if type_ == pa.int64() else f"an integer ({type_})"
    if pa.types.is_decimal(type_):
        return f"a decimal({type_.precision},{type_.scale})"
    if pa.types.is_date32(type_):
        return "a date (YYYY-MM-DD)"
    return f"a {type_}"


# -- extra columns --------------------------------------------------------------------------------


def _extra_values(
    extras: list[pa.ChunkedArray], names: list[str], rows: int
) -> tuple[pa.Array | pa.ChunkedArray, pa.Array | pa.ChunkedArray]:
    """`additional_column` (values joined with ", ") and `extra_columns` (a JSON object)."""
    if not extras:
        empty = pa.nulls(rows, pa.string())
        return empty, empty
    return _join_present(extras, ", "), _json_objects(extras, names)


def _join_present(columns: list[pa.ChunkedArray], separator: str) -> Any:
    """Per row, the non-NULL values joined (NULL when all are NULL), like Spark's concat_ws.

    Not binary_join_element_wise(null_handling="skip"): pyarrow 26 drops the all-NULL rows.
    """
    joined = columns[0]
    for column in columns[1:]:
        both = pc.binary_join_element_wise(joined, column, separator)
        joined = pc.if_else(
            pc.is_null(column), joined, pc.if_else(pc.is_null(joined), column, both)
        )
    return joined


_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def _json_objects(extras: list[pa.ChunkedArray], names: list[str]) -> pa.ChunkedArray | pa.Array:
    """One JSON object per row, built with string kernels (Python only for odd control chars)."""
    if any(
        pc.any(pc.match_substring_regex(c, r"[\x00-\x08\x0b\x0c\x0e-\x1f]")).as_py() for c in extras
    ):
        rows = zip(*(c.to_pylist() for c in extras), strict=True)
        return pa.array(
            [json.dumps(dict(zip(names, r, strict=True)), ensure_ascii=False) for r in rows],
            pa.string(),
        )
    parts: list[Any] = []
    for i, (name, column) in enumerate(zip(names, extras, strict=True)):
        escaped = column
        for raw, replacement in _JSON_ESCAPES:
            escaped = pc.replace_substring(escaped, raw, replacement)
        quoted = pc.binary_join_element_wise('"', escaped, '"', "")
        parts.append(("{" if i == 0 else ", ") + json.dumps(name, ensure_ascii=False) + ": ")
        parts.append(pc.fill_null(quoted, "null"))
    parts.append("}")
    return pc.binary_join_element_wise(*parts, "")
