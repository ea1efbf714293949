"""Warehouse loads on PostgreSQL, MariaDB and DuckDB: the behaviour every backend shares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from strata.errors import ConfigError, DatabaseUnavailable, StorageError, WarehouseError
from strata.sinks import LoadResult, Mode, Warehouse, open_warehouse
from strata.sinks.base import TableRef, plan_schema
from strata.sinks.types import NormalizedData
from tests.sinks.helpers import columns, qualified, quote, rows, run_sql

UTC = dt.UTC
TOKYO = dt.timezone(dt.timedelta(hours=9))
NASTY = "quote \" apostrophe ' comma , newline \n crlf \r\n tab \t backslash \\ \\N NULL end"
LONG_TEXT = "长文本🙂" * 30_000  # > 100 KB of UTF-8


def typed_table() -> pa.Table:
    """Every supported type, with edge values, and a row of NULLs (except the key)."""
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4], pa.int64()),
            "i8": pa.array([-128, 127, 0, None], pa.int8()),
            "i16": pa.array([-32768, 32767, 0, None], pa.int16()),
            "i32": pa.array([-(2**31), 2**31 - 1, 0, None], pa.int32()),
            "i64": pa.array([-(2**63), 2**63 - 1, 0, None], pa.int64()),
            "f32": pa.array([1.5, -0.25, 0.1, None], pa.float32()),
            "f64": pa.array([0.1, -1.7976931348623157e308, 5e-324, None], pa.float64()),
            "dec": pa.array(
                [Decimal("-12345678.9012"), Decimal("0.0001"), Decimal("0"), None],
                pa.decimal128(12, 4),
            ),
            "dec_hi": pa.array(
                [
                    Decimal("-1234567890123456789012345678.1234567890"),
                    Decimal("9999999999999999999999999999.9999999999"),
                    Decimal("0.0000000001"),
                    None,
                ],
                pa.decimal128(38, 10),
            ),
            "day": pa.array(
                [dt.date(1970, 1, 1), dt.date(2024, 2, 29), dt.date(9999, 12, 31), None]
            ),
            "at": pa.array(
                [
                    dt.datetime(2024, 3, 31, 1, 59, 59, 999999),
                    dt.datetime(1999, 12, 31, 23, 0),
                    dt.datetime(2038, 1, 19, 3, 14, 8, 1),
                    None,
                ],
                pa.timestamp("us"),
            ),
            "at_tz": pa.array(
                [
                    dt.datetime(2024, 1, 1, 8, 30, 0, 123456, tzinfo=TOKYO),
                    dt.datetime(2024, 7, 1, 0, 0, tzinfo=TOKYO),
                    dt.datetime(2000, 1, 1, 0, 0, tzinfo=TOKYO),
                    None,
                ],
                pa.timestamp("us", "Asia/Tokyo"),
            ),
            "clock": pa.array([dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12), None]),
            "flag": pa.array([True, False, True, None]),
            "Mixed Case, spaced": pa.array(["Grüße 👋🏽 你好 こんにちは", NASTY, "", None]),
            "long": pa.array([LONG_TEXT, "short", "", None]),
            "blob": pa.array([bytes(range(256)), b"\x00", b"", None], pa.binary()),
        }
    )


def comparable(value: Any) -> Any:
    """Time-zone-aware datetimes as naive UTC (MySQL stores them that way)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def assert_same_rows(actual: list[dict], expected: list[dict]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert set(got) == set(want)
        for name, value in want.items():
            assert comparable(got[name]) == comparable(value), (name, got[name], value)


def test_round_trip_of_every_type(any_wh: Warehouse) -> None:
    data = typed_table()
    result = any_wh.load("Round Trip", data, mode="merge", key=["id"])
    assert (result.rows, result.inserted, result.updated) == (4, 4, 0)
    assert_same_rows(rows(any_wh, "Round Trip"), data.to_pylist())
    assert any_wh.tables() == ["Round Trip"]

    # The catalog's type names parse back to what was created, so a reload never ALTERs.
    existing = any_wh._describe(TableRef(any_wh.namespace, "Round Trip"))
    plan = plan_schema(
        "t", any_wh.dialect, NormalizedData(data).data_schema, existing, ["id"], "merge"
    )
    assert not (plan.create or plan.adds or plan.widen), (plan.adds, plan.widen)


def test_record_batch_reader_of_several_batches(any_wh: Warehouse) -> None:
    schema = pa.schema([("id", pa.int64()), ("name", pa.dictionary(pa.int32(), pa.string()))])
    pulled: list[int] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, 5000, 1000):
            pulled.append(start)
            ids = list(range(start, start + 1000))
            names = pa.array([f"n{i % 7}" for i in ids]).dictionary_encode()
            yield pa.record_batch([pa.array(ids, pa.int64()), names], schema=schema)
        yield pa.record_batch([pa.array([], pa.int64()), pa.array([]).cast(schema[1].type)], schema)

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    result = any_wh.load("events", reader, mode="append")
    assert (result.rows, result.inserted, pulled) == (5000, 5000, [0, 1000, 2000, 3000, 4000])
    got = any_wh.read(f"SELECT COUNT(*) AS n, SUM(id) AS s FROM {qualified(any_wh, 'events')}")
    assert [int(v) for v in got.to_pylist()[0].values()] == [5000, sum(range(5000))]
    assert rows(any_wh, "events")[4321]["name"] == f"n{4321 % 7}"


def test_merge_inserts_updates_last_row_wins_and_is_idempotent(wh: Warehouse) -> None:
    wh.load("t", pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"], "n": [1, 2, 3]}), key=["id"])
    batch = pa.table({"id": [2, 4, 2, 5], "v": ["B", "D", "B2", "E"], "n": [20, 40, 21, 50]})

    first = wh.load("t", batch, mode="merge", key=["id"])
    after_first = rows(wh, "t")
    second = wh.load("t", batch, mode="merge", key=["id"])

    assert (first.rows, first.inserted, first.updated) == (4, 2, 1)
    assert (second.rows, second.inserted, second.updated) == (4, 0, 3)
    assert (
        rows(wh, "t")
        == after_first
        == [
            {"id": 1, "v": "a", "n": 1},
            {"id": 2, "v": "B2", "n": 21},
            {"id": 3, "v": "c", "n": 3},
            {"id": 4, "v": "D", "n": 40},
            {"id": 5, "v": "E", "n": 50},
        ]
    )


def test_merge_on_a_composite_key_with_only_key_columns(wh: Warehouse) -> None:
    data = pa.table({"a": [1, 1, 2], "b": ["x", "y", "x"]})
    assert wh.load("pairs", data, key=["a", "b"]).inserted == 3
    again = wh.load("pairs", pa.table({"a": [1, 3], "b": ["x", "z"]}), key=["a", "b"])
    assert again.inserted == 1
    assert len(rows(wh, "pairs", order="a")) == 4


def test_merge_keeps_columns_the_batch_lacks(wh: Warehouse) -> None:
    wh.load("t", pa.table({"id": [1], "v": ["a"], "w": ["keep"]}), key=["id"])
    wh.load("t", pa.table({"id": [1, 2], "v": ["A", "b"]}), key=["id"])
    assert rows(wh, "t") == [{"id": 1, "v": "A", "w": "keep"}, {"id": 2, "v": "b", "w": None}]


def test_keys_compare_exactly(wh: Warehouse) -> None:
    data = pa.table({"k": ["a", "A", "a ", "ä"], "v": [1, 2, 3, 4]})
    assert wh.load("k", data, key=["k"]).inserted == 4
    assert wh.load("k", pa.table({"k": ["A"], "v": [20]}), key=["k"]).updated == 1
    assert {r["k"]: r["v"] for r in rows(wh, "k", order="v")} == {"a": 1, "A": 20, "a ": 3, "ä": 4}


def test_append_adds_rows(wh: Warehouse) -> None:
    data = pa.table({"id": [1, 2], "v": [0.5, None]})
    wh.load("t", data, mode="append")
    result = wh.load("t", data, mode="append")
    assert isinstance(result, LoadResult)
    as_dict = result.to_dict()
    assert as_dict["seconds"] >= 0
    assert {k: v for k, v in as_dict.items() if k != "seconds"} == {
        "table": "t",
        "mode": "append",
        "rows": 2,
        "inserted": 2,
        "updated": 0,
        "columns_added": [],
    }
    assert len(rows(wh, "t")) == 4


def test_replace_swaps_the_contents(wh: Warehouse) -> None:
    wh.load("t", pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"], "old": [1, 2, 3]}), key=["id"])
    result = wh.load("t", pa.table({"id": [3, 9], "v": ["C", "i"]}), mode="replace")
    assert (result.rows, result.inserted) == (2, 2)
    assert rows(wh, "t") == [{"id": 3, "v": "C", "old": None}, {"id": 9, "v": "i", "old": None}]


def test_replace_where_swaps_only_that_slice(wh: Warehouse) -> None:
    day1, day2 = dt.date(2024, 7, 1), dt.date(2024, 7, 2)
    first = pa.table({"day": [day1, day1, day2], "id": [1, 2, 3], "v": ["a", "b", "c"]})
    wh.load("t", first, key=["day", "id"])
    # Day 2 again: one row changed, one new, none removed from day 1.
    again = pa.table({"day": [day2, day2], "id": [3, 4], "v": ["C", "d"]})
    result = wh.load("t", again, mode="replace", where={"day": day2})
    assert (result.rows, result.inserted) == (2, 2)
    assert sorted((r["id"], r["v"]) for r in rows(wh, "t")) == [
        (1, "a"),
        (2, "b"),
        (3, "C"),
        (4, "d"),
    ]
    # A slice that shrank: its rows that are gone disappear (a merge would keep them).
    wh.load(
        "t", pa.table({"day": [day1], "id": [1], "v": ["A"]}), mode="replace", where={"day": day1}
    )
    assert sorted(r["id"] for r in rows(wh, "t")) == [1, 3, 4]
    with pytest.raises(ConfigError, match="where= only applies"):
        wh.load("t", again, mode="merge", key=["day", "id"], where={"day": day2})


def test_empty_data_creates_the_table(wh: Warehouse) -> None:
    empty = pa.table({"id": pa.array([], pa.int64()), "v": pa.array([], pa.string())})
    result = wh.load("empty", empty, key=["id"])
    assert (result.rows, result.inserted) == (0, 0)
    assert rows(wh, "empty") == []
    assert columns(wh, "empty") == {"id": "int64", "v": "string"}


def test_schema_is_created_if_missing(wh: Warehouse) -> None:
    other = f"{wh.namespace}_other" if wh.kind == "mysql" else "Analytics Gold"
    try:
        wh.load("t", pa.table({"id": [1]}), key=["id"], schema=other)
        assert wh.tables(other) == ["t"]
        assert rows(wh, "t", schema=other) == [{"id": 1}]
        assert wh.tables() == []
    finally:
        if wh.kind == "mysql":
            run_sql(wh, f"DROP DATABASE IF EXISTS {quote(wh, other)}")


def test_add_column_and_widen_types(wh: Warehouse) -> None:
    first = pa.table(
        {
            "id": pa.array([1], pa.int32()),
            "n": pa.array([7], pa.int32()),
            "x": pa.array([1.5], pa.float32()),
            "d": pa.array([Decimal("1.25")], pa.decimal128(5, 2)),
            "i": pa.array([3], pa.int16()),
        }
    )
    wh.load("t", first, key=["id"])
    second = pa.table(
        {
            "id": pa.array([2**40], pa.int64()),
            "n": pa.array([2**40], pa.int64()),
            "x": pa.array([0.1], pa.float64()),
            "d": pa.array([Decimal("-123456.789")], pa.decimal128(9, 3)),
            "i": pa.array([0.5], pa.float64()),
            "extra": pa.array(["new"]),
        }
    )
    result = wh.load("t", second, key=["id"])

    assert result.columns_added == ["extra"]
    types = columns(wh, "t")
    assert (types["id"], types["n"], types["x"], types["i"]) == (
        "int64",
        "int64",
        "double",
        "double",
    )
    assert types["d"] == "decimal128(9, 3)"
    assert rows(wh, "t") == [
        {"id": 1, "n": 7, "x": 1.5, "d": Decimal("1.25"), "i": 3.0, "extra": None},
        {"id": 2**40, "n": 2**40, "x": 0.1, "d": Decimal("-123456.789"), "i": 0.5, "extra": "new"},
    ]


def test_narrower_incoming_types_leave_the_table_alone(wh: Warehouse) -> None:
    wh.load("t", pa.table({"id": pa.array([1], pa.int64()), "v": pa.array([1.0])}), key=["id"])
    data = pa.table({"id": pa.array([2], pa.int8()), "v": pa.array([2], pa.int32())})
    assert wh.load("t", data, key=["id"]).columns_added == []
    assert columns(wh, "t") == {"id": "int64", "v": "double"}


@pytest.mark.parametrize(
    ("column", "incoming"),
    [(pa.array(["text"]), pa.array([1], pa.int64())), (pa.array([1], pa.int64()), pa.array([0.5]))],
    ids=["text-to-integer", "bigint-to-double"],
)
def test_unsafe_type_change_is_refused(wh: Warehouse, column: pa.Array, incoming: pa.Array) -> None:
    wh.load("t", pa.table({"id": [1], "v": column}), key=["id"])
    before = (rows(wh, "t"), columns(wh, "t"))

    with pytest.raises(WarehouseError) as caught:
        wh.load("t", pa.table({"id": [2], "v": incoming, "added": [1]}), key=["id"])

    message = str(caught.value)
    assert "t" in caught.value.table and "'v'" in message and "safe widening" in message
    assert (rows(wh, "t"), columns(wh, "t")) == before


def test_refusals_before_anything_is_written(wh: Warehouse) -> None:
    with pytest.raises(ConfigError, match="needs key"):
        wh.load("t", pa.table({"id": [1]}), mode="merge")
    with pytest.raises(ConfigError, match="not in the data"):
        wh.load("t", pa.table({"id": [1]}), key=["nope"])
    with pytest.raises(WarehouseError, match="cannot be stored"):
        wh.load("t", pa.table({"id": [1], "tags": [["a", "b"]]}), key=["id"])
    assert wh.tables() == []
    wh.load("t", pa.table({"id": [1], "v": [1]}), mode="append")
    with pytest.raises(WarehouseError, match="primary key"):
        wh.load("t", pa.table({"id": [1], "v": [1]}), key=["id"])
    assert wh.tables() == ["t"]


def _fail_before_final_statement(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("injected failure after staging")

    monkeypatch.setattr(wh, "_write", boom)


@pytest.mark.parametrize("failure", ["null-key", "duplicate-key", "check-violation", "injected"])
def test_failure_mid_load_leaves_the_table_unchanged(
    wh: Warehouse, failure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sql(
        wh,
        f"CREATE TABLE {qualified(wh, 'T')} (id BIGINT NOT NULL PRIMARY KEY, v BIGINT, "
        "CONSTRAINT positive CHECK (v >= 0))",
    )
    wh.load("T", pa.table({"id": [1, 2], "v": [10, 20]}), key=["id"])
    before = (rows(wh, "T"), columns(wh, "T"))
    batch = {
        "null-key": pa.table({"id": [3, None], "v": [30, 40], "added": ["x", "y"]}),
        "duplicate-key": pa.table({"id": [1, 3, 3], "v": [1, 2, 3]}),
        "check-violation": pa.table({"id": [1, 3], "v": [11, -1]}),
        "injected": pa.table({"id": [1, 3], "v": [11, 30], "added": ["x", "y"]}),
    }[failure]
    mode: Mode = "append" if failure == "duplicate-key" else "merge"
    if failure == "injected":
        _fail_before_final_statement(wh, monkeypatch)

    with pytest.raises(WarehouseError) as caught:
        wh.load("T", batch, mode=mode, key=["id"])

    assert caught.value.table == f"{wh.namespace}.T"
    if wh.kind == "mysql" and failure == "injected":
        # Documented: MySQL commits DDL, so the added column stays (NULL); the rows do not change.
        assert columns(wh, "T") == {**before[1], "added": "string"}
        assert rows(wh, "T") == [{**row, "added": None} for row in before[0]]
    else:
        assert (rows(wh, "T"), columns(wh, "T")) == before


def test_failed_first_load_leaves_no_table(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_before_final_statement(wh, monkeypatch)
    with pytest.raises(WarehouseError, match="injected"):
        wh.load("fresh", pa.table({"id": [1]}), key=["id"])
    assert wh.tables() == []


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_unreachable_server_is_database_unavailable(scheme: str) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"{scheme}://loader:s3cr3t-pw@127.0.0.1:{port}/warehouse"

    with pytest.raises(DatabaseUnavailable) as caught:
        open_warehouse(url)

    assert "s3cr3t-pw" not in str(caught.value) and "s3cr3t-pw" not in caught.value.url
    assert f"loader:***@127.0.0.1:{port}" in str(caught.value)


def test_unopenable_duckdb_file_is_database_unavailable(tmp_path: Path) -> None:
    (tmp_path / "not-a-directory").write_text("")
    with pytest.raises(DatabaseUnavailable):
        open_warehouse(f"duckdb:///{tmp_path / 'not-a-directory' / 'w.duckdb'}")


def test_a_stream_that_breaks_midway_changes_nothing(wh: Warehouse) -> None:

    wh.load("t", pa.table({"id": [1], "v": ["a"]}), key=["id"])
    schema = pa.schema([("id", pa.int64()), ("v", pa.string())])

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"id": [1, 2], "v": ["A", "b"]}, schema=schema)
        raise StorageError("bronze file vanished")

    with pytest.raises(StorageError, match="vanished"):
        wh.load("t", pa.RecordBatchReader.from_batches(schema, batches()), key=["id"])
    assert rows(wh, "t") == [{"id": 1, "v": "a"}]


@pytest.mark.parametrize("mode", ["append", "replace", "merge"])
def test_a_load_holds_only_a_few_batches_of_the_stream(wh: Warehouse, mode: Mode) -> None:
    """The stream is consumed batch by batch: the batches already loaded are released, so a
    load's memory does not grow with the row count (every path: direct COPY, stage, merge)."""
    pool = pa.proxy_memory_pool(pa.default_memory_pool())  # counts only the batches' buffers
    schema = pa.schema([("id", pa.int64()), ("payload", pa.string())])
    count, size = 20, 5000
    held: list[int] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, count * size, size):
            held.append(pool.bytes_allocated())
            ids = pa.array(range(start, start + size), pa.int64(), memory_pool=pool)
            payload = pa.array([f"{i:0200d}" for i in range(start, start + size)], memory_pool=pool)
            yield pa.record_batch([ids, payload], schema=schema)

    batch_bytes = size * (8 + 4 + 200)
    wh.load("t", pa.table({"id": [-1], "payload": ["x"]}), mode="append", key=["id"])
    reader = pa.RecordBatchReader.from_batches(schema, batches())
    result = wh.load("t", reader, mode=mode, key=["id"])

    assert result.rows == count * size
    assert max(held) < 6 * batch_bytes, [n // batch_bytes for n in held]
    got = wh.read(f"SELECT COUNT(*) AS n FROM {qualified(wh, 't')}").to_pylist()[0]
    assert int(next(iter(got.values()))) == count * size + (mode != "replace")
