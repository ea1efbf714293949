"""Backend-specific behaviour: PostgreSQL bulk loads and MVCC, MySQL limits, DuckDB rebuilds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from strata.errors import WarehouseError
from strata.sinks import Warehouse, open_warehouse
from tests.sinks.helpers import columns, qualified, rows, run_sql


def million_rows() -> pa.Table:
    n = 1_000_000
    rng = np.random.default_rng(7)
    ids = np.arange(n, dtype=np.int64)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    return pa.table(
        {
            "id": ids,
            "sensor": pa.array(ids % 977, pa.int32()),
            "at": pa.array(start + ids * np.timedelta64(1, "s")),
            "value": rng.normal(size=n),
            "small": pa.array(rng.normal(size=n), pa.float32()),
            "ok": pa.array(ids % 3 == 0),
            "label": pa.array(np.char.add("s", (ids % 1000).astype(str))),
            "amount": pa.array(ids % 100_000).cast(pa.decimal128(19, 0)).cast(pa.decimal128(12, 2)),
        }
    )


def test_postgres_bulk_merge_of_a_million_rows(pg_url: str) -> None:
    data = million_rows()
    batches = pa.RecordBatchReader.from_batches(data.schema, data.to_batches(250_000))
    with open_warehouse(pg_url, schema="bulk") as wh:
        result = wh.load("readings", batches, key=["id"])
        totals = wh.read(
            "SELECT COUNT(*) AS n, SUM(amount)::numeric(20, 2) AS amount, "
            "COUNT(DISTINCT sensor) AS sensors "
            "FROM bulk.readings"
        ).to_pylist()[0]
    assert (result.rows, result.inserted, result.updated) == (1_000_000, 1_000_000, 0)
    expected_amount = Decimal(int(pa.compute.sum(data["amount"].cast(pa.int64())).as_py()))
    assert totals == {"n": 1_000_000, "amount": expected_amount, "sensors": 977}


def test_replace_never_shows_readers_an_empty_table(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh.load("t", pa.table({"id": [1, 2], "v": ["old", "old"]}), key=["id"])
    seen: list[Any] = []
    commit = wh._commit

    def look_then_commit() -> None:  # deleted and inserted (staged or not), not yet committed
        seen.append(sorted(r["v"] for r in rows(reader, "t")))
        commit()

    monkeypatch.setattr(wh, "_commit", look_then_commit)
    with open_warehouse(wh.url.url) as reader:  # DuckDB: a second connection, same process
        wh.load("t", pa.table({"id": [3], "v": ["new"]}), mode="replace")
        assert seen == [["old", "old"]]
        assert rows(reader, "t") == [{"id": 3, "v": "new"}]


def test_postgres_reads_numeric_as_decimal_and_refuses_nul_in_text(pg_url: str) -> None:
    with open_warehouse(pg_url) as wh:
        got = wh.read("SELECT 1.50::numeric(5,2) AS a, 2::numeric AS b, 'NaN'::numeric(5,2) AS c")
        assert got.schema.field("a").type == pa.decimal128(5, 2)
        assert got.to_pylist() == [{"a": Decimal("1.50"), "b": "2", "c": "nan"}]
        with pytest.raises(WarehouseError, match="0x00"):
            wh.load("t", pa.table({"id": [1], "s": ["a\0b"]}), key=["id"])
        assert wh.tables() == []


def test_unsigned_and_nanosecond_inputs_are_normalized(wh: Warehouse) -> None:
    data = pa.table(
        {
            "id": pa.array([2**64 - 1, 0], pa.uint64()),
            "u32": pa.array([2**32 - 1, 0], pa.uint32()),
            "ns": pa.array([1_700_000_000_123_456_789, 0], pa.timestamp("ns")),
        }
    )
    wh.load("u", data, key=["id"])
    assert rows(wh, "u") == [
        {"id": Decimal(0), "u32": 0, "ns": dt.datetime(1970, 1, 1)},
        {
            "id": Decimal(2**64 - 1),
            "u32": 2**32 - 1,
            "ns": dt.datetime(2023, 11, 14, 22, 13, 20, 123456),
        },
    ]


def test_column_names_fold_like_the_database(wh: Warehouse) -> None:
    wh.load("t", pa.table({"id": [1], "Value": [1]}), key=["id"])
    result = wh.load("t", pa.table({"id": [2], "value": [2]}), key=["id"])
    if wh.kind == "postgresql":  # quoted identifiers are case-sensitive there
        assert result.columns_added == ["value"]
    else:  # MySQL and DuckDB compare column names case-insensitively
        assert result.columns_added == []
        assert [r["Value"] for r in rows(wh, "t")] == [1, 2]


def test_decimal_precision_limits(wh: Warehouse) -> None:
    limit = {"postgresql": 1000, "mysql": 65, "duckdb": 38}[wh.kind]
    widest = min(limit, 76)  # Arrow decimals stop at 76 digits
    fits = Decimal("-" + "9" * (widest - 2) + ".5")
    wh.load(
        "ok", pa.table({"id": [1], "d": pa.array([fits], pa.decimal256(widest, 1))}), key=["id"]
    )
    assert rows(wh, "ok")[0]["d"] == fits
    if limit < 76:
        too_wide = pa.array([Decimal(1)], pa.decimal256(limit + 1, 0))
        with pytest.raises(WarehouseError, match="exceeds the maximum"):
            wh.load("t", pa.table({"id": [1], "d": too_wide}), key=["id"])


def test_mysql_refuses_key_strings_longer_than_the_key_column(mysql_url: str) -> None:
    with open_warehouse(mysql_url) as wh:
        wh.load("t", pa.table({"k": ["a"], "v": [1]}), key=["k"])
        before = (rows(wh, "t", order="k"), columns(wh, "t"))
        with pytest.raises(WarehouseError, match="longer than 255"):
            wh.load("t", pa.table({"k": ["x" * 256], "v": [2], "new": [1]}), key=["k"])
        assert (rows(wh, "t", order="k"), columns(wh, "t")) == before


def test_mysql_warns_about_unrepresentable_values(mysql_url: str) -> None:
    with open_warehouse(mysql_url) as wh:
        with pytest.raises(WarehouseError, match="staging rejected"):
            wh.load("t", pa.table({"id": [1], "x": [float("nan")]}), key=["id"])
        assert wh.tables() == []


def test_duckdb_widens_a_primary_key_column_by_rebuilding(tmp_path: Path) -> None:
    with open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}") as wh:
        first = pa.table({"id": pa.array([1], pa.int32()), "v": ["a"]})
        wh.load("t", first, key=["id"])
        wh.load("t", pa.table({"id": pa.array([2**40], pa.int64()), "w": [1.5]}), key=["id"])
        assert columns(wh, "t") == {"id": "int64", "v": "string", "w": "double"}
        assert rows(wh, "t") == [{"id": 1, "v": "a", "w": None}, {"id": 2**40, "v": None, "w": 1.5}]
        assert wh.load("t", pa.table({"id": [1], "v": ["A"]}), key=["id"]).updated == 1
        assert wh.tables() == ["t"]


def test_existing_columns_of_unmanaged_types_are_cast_by_the_database(wh: Warehouse) -> None:
    run_sql(wh, f"CREATE TABLE {qualified(wh, 'u')} (id BIGINT NOT NULL PRIMARY KEY, ref UUID)")
    good = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    wh.load("u", pa.table({"id": [1], "ref": [good]}), key=["id"])
    with pytest.raises(WarehouseError):
        wh.load("u", pa.table({"id": [2], "ref": ["not-a-uuid"]}), key=["id"])
    assert [str(r["ref"]) for r in rows(wh, "u")] == [good]


def test_duckdb_refuses_a_rebuild_that_would_lose_constraints(tmp_path: Path) -> None:
    with open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}") as wh:
        run_sql(wh, "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER CHECK (v > 0))")
        with pytest.raises(WarehouseError, match="rebuild"):
            wh.load("t", pa.table({"id": pa.array([2**40], pa.int64()), "v": [1]}), key=["id"])
        assert columns(wh, "t") == {"id": "int32", "v": "int32"}


def test_mysql_loads_in_chunks_and_keeps_nul_characters(
    mysql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import strata.sinks.mysql

    monkeypatch.setattr(strata.sinks.mysql, "CHUNK_BYTES", 1)  # one LOAD DATA per batch
    data = pa.table({"id": list(range(6)), "s": ["a\0b", "\\0", "c,\\N", None, "", "\r\n"]})
    with open_warehouse(mysql_url) as wh:
        assert wh.load("t", data.to_reader(max_chunksize=2), key=["id"]).inserted == 6
        assert rows(wh, "t") == data.to_pylist()


def test_duckdb_file_named_like_its_schema(tmp_path: Path) -> None:
    """`warehouse.duckdb` holding schema `warehouse`: names stay unambiguous for the sink."""

    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    data = pa.table({"id": [1, 2], "v": ["x", "y"]})
    with open_warehouse(url, schema="warehouse") as wh:
        for name in ("a", "b"):
            assert wh.load(name, data, mode="replace", key=["id"]).rows == 2
        assert wh.tables() == ["a", "b"]
