"""PostgreSQL fast paths: COPY straight into the target, and the staged merge's shortcuts."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import adbc_driver_postgresql.dbapi as pg
import pyarrow as pa
import pytest

from strata.errors import WarehouseError
from strata.sinks import Mode, open_warehouse
from strata.sinks.postgres import PostgresWarehouse
from tests.sinks.helpers import columns, qualified, rows, run_sql
from tests.sinks.test_load import assert_same_rows, typed_table


@pytest.fixture
def wh(pg_url: str) -> Iterator[PostgresWarehouse]:
    with open_warehouse(pg_url) as warehouse:
        assert isinstance(warehouse, PostgresWarehouse)
        yield warehouse


@pytest.fixture
def staged(wh: PostgresWarehouse, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every stage a load creates (an empty list: the load copied straight in)."""
    names: list[str] = []
    stage = wh._stage

    def record(*args: Any) -> str:
        names.append(stage(*args))
        return names[-1]

    monkeypatch.setattr(wh, "_stage", record)
    return names


def scalar(wh: PostgresWarehouse, sql: str) -> Any:
    return next(iter(wh.read(sql).to_pylist()[0].values()))


def primary_key(wh: PostgresWarehouse, table: str) -> list[str]:
    got = wh.read(
        "SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        f"WHERE i.indisprimary AND i.indrelid = '{qualified(wh, table)}'::regclass "
        "ORDER BY a.attnum"
    )
    return [r["name"] for r in got.to_pylist()]


def versions(wh: PostgresWarehouse, table: str) -> dict[int, str]:
    """id → xmin: which transaction wrote each row's current version."""
    got = wh.read(f"SELECT id, xmin::text AS xmin FROM {qualified(wh, table)}").to_pylist()
    return {r["id"]: r["xmin"] for r in got}


# -- the direct path -------------------------------------------------------------------------


def test_append_copies_straight_into_a_new_and_an_existing_table(
    wh: PostgresWarehouse, staged: list[str]
) -> None:
    first = wh.load("t", pa.table({"id": [1, 2], "v": ["a", None]}), mode="append", key=["id"])
    second = wh.load("t", pa.table({"v": ["c"], "id": [3]}), mode="append")  # other order

    assert staged == []
    assert (first.rows, first.inserted, first.updated) == (2, 2, 0)
    assert (second.rows, second.inserted) == (1, 1)
    assert rows(wh, "t") == [{"id": 1, "v": "a"}, {"id": 2, "v": None}, {"id": 3, "v": "c"}]
    assert primary_key(wh, "t") == ["id"]


def test_replace_copies_straight_in_and_keeps_views_and_grants(
    wh: PostgresWarehouse, staged: list[str]
) -> None:
    wh.load("t", pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}), mode="replace", key=["id"])
    run_sql(wh, f"CREATE VIEW {qualified(wh, 'v')} AS SELECT id FROM {qualified(wh, 't')}")
    run_sql(wh, f"GRANT SELECT ON {qualified(wh, 't')} TO PUBLIC")

    result = wh.load("t", pa.table({"id": [3, 9], "v": ["C", "i"]}), mode="replace")

    assert staged == []
    assert (result.rows, result.inserted) == (2, 2)
    assert rows(wh, "t") == [{"id": 3, "v": "C"}, {"id": 9, "v": "i"}]
    assert rows(wh, "v") == [{"id": 3}, {"id": 9}]
    assert primary_key(wh, "t") == ["id"]
    assert scalar(wh, f"SELECT has_table_privilege('public', '{qualified(wh, 't')}', 'SELECT')")


def test_an_empty_replace_empties_the_table(wh: PostgresWarehouse, staged: list[str]) -> None:
    wh.load("t", pa.table({"id": [1, 2]}), mode="replace", key=["id"])
    empty = pa.table({"id": pa.array([], pa.int64())})
    assert wh.load("t", empty, mode="replace").inserted == 0
    assert wh.load("new", empty, mode="append", key=["id"]).inserted == 0
    assert staged == []
    assert rows(wh, "t") == [] and rows(wh, "new") == []
    assert primary_key(wh, "new") == ["id"]


def test_every_type_round_trips_through_the_direct_path(
    wh: PostgresWarehouse, staged: list[str]
) -> None:
    data = typed_table()
    table, schema = 'Round "Trip"', "Analytics Gold"
    wh.load(table, data, mode="replace", key=["id"], schema=schema)
    wh.load(table, data, mode="replace", schema=schema)

    assert staged == []
    got = wh.read(f"SELECT * FROM {qualified(wh, table, schema)} ORDER BY id")
    assert_same_rows(got.to_pylist(), data.to_pylist())


def test_narrower_and_widened_types_are_converted_on_the_client(
    wh: PostgresWarehouse, staged: list[str]
) -> None:
    wh.load(
        "t",
        pa.table(
            {
                "id": pa.array([1], pa.int64()),
                "small": pa.array([1], pa.int32()),
                "d": pa.array([Decimal("1.5")], pa.decimal128(4, 1)),
                "f": pa.array([1.5], pa.float64()),
            }
        ),
        mode="append",
        key=["id"],
    )
    narrower = pa.table(
        {
            "id": pa.array([2], pa.int8()),  # BIGINT column: sent as int64
            "small": pa.array([2**40], pa.int64()),  # INTEGER widened to BIGINT first
            "d": pa.array([7], pa.int16()),  # NUMERIC(4,1) widened to NUMERIC(6,1)
            "f": pa.array([3], pa.int32()),  # DOUBLE PRECISION holds every int32
        }
    )
    wh.load("t", narrower, mode="append")

    assert staged == []
    assert columns(wh, "t") == {
        "id": "int64",
        "small": "int64",
        "d": "decimal128(6, 1)",
        "f": "double",
    }
    assert rows(wh, "t") == [
        {"id": 1, "small": 1, "d": Decimal("1.5"), "f": 1.5},
        {"id": 2, "small": 2**40, "d": Decimal("7.0"), "f": 3.0},
    ]


def test_replace_when_a_column_exists_only_in_the_target(
    wh: PostgresWarehouse, staged: list[str]
) -> None:
    run_sql(
        wh,
        f"CREATE TABLE {qualified(wh, 't')} (id BIGINT PRIMARY KEY, v TEXT, "
        "note TEXT DEFAULT 'n/a', old BIGINT)",
    )
    wh.load("t", pa.table({"id": [1], "v": ["a"], "note": ["x"], "old": [7]}), mode="append")

    wh.load("t", pa.table({"v": ["b", "c"], "id": [2, 3]}), mode="replace")

    assert staged == []
    assert rows(wh, "t") == [
        {"id": 2, "v": "b", "note": "n/a", "old": None},
        {"id": 3, "v": "c", "note": "n/a", "old": None},
    ]


def test_types_only_the_database_converts_go_through_the_stage(
    wh: PostgresWarehouse, staged: list[str]
) -> None:
    run_sql(wh, f"CREATE TABLE {qualified(wh, 't')} (id BIGINT PRIMARY KEY, ref UUID)")
    good = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    wh.load("t", pa.table({"id": [1], "ref": [good]}), mode="replace")
    assert len(staged) == 1
    assert [str(r["ref"]) for r in rows(wh, "t")] == [good]
    with pytest.raises(WarehouseError, match="uuid"):
        wh.load("t", pa.table({"id": [2], "ref": ["not-a-uuid"]}), mode="replace")
    assert [str(r["ref"]) for r in rows(wh, "t")] == [good]


def test_batches_are_cut_small_for_the_copy(
    wh: PostgresWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    import strata.sinks.postgres

    monkeypatch.setattr(strata.sinks.postgres, "COPY_CHUNK_BYTES", 1000)
    seen: list[int] = []
    copy = wh._copy

    def count_batches(ref: Any, reader: pa.RecordBatchReader) -> None:
        def spy() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                seen.append(batch.num_rows)
                yield batch

        copy(ref, pa.RecordBatchReader.from_batches(reader.schema, spy()))

    monkeypatch.setattr(wh, "_copy", count_batches)
    data = pa.table({"id": list(range(5000)), "v": [f"value {i}" for i in range(5000)]})
    wh.load("t", data, mode="replace", key=["id"])

    assert len(seen) > 10 and sum(seen) == 5000
    assert scalar(wh, f"SELECT COUNT(*) FROM {qualified(wh, 't')}") == 5000


def test_rows_go_into_an_indexed_table_in_key_order(
    wh: PostgresWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch is sorted by the primary key when the table has it already (index inserts on
    neighbouring pages); a table the load creates, or a batch above SORT_MAX_ROWS, keeps the
    data's order."""
    import strata.sinks.postgres

    sent: list[list[Any]] = []
    copy = wh._copy

    def record(ref: Any, reader: pa.RecordBatchReader) -> None:
        def spy() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                sent.append(batch.select(["day", "id"]).to_pylist())
                yield batch

        copy(ref, pa.RecordBatchReader.from_batches(reader.schema, spy()))

    monkeypatch.setattr(wh, "_copy", record)
    ids = [7, 3, 9, 1, 5, 2]
    data = pa.table({"v": [f"v{i}" for i in ids], "id": ids, "day": [1] * len(ids)})
    key = ["day", "id"]
    wh.load("t", data, mode="replace", key=key, where={"day": 1})  # creates the table
    assert [r["id"] for r in sent[0]] == ids
    sent.clear()
    wh.load("t", data, mode="replace", key=key, where={"day": 1})
    assert [r["id"] for batch in sent for r in batch] == sorted(ids)
    assert sorted(r["id"] for r in rows(wh, "t")) == sorted(ids)
    sent.clear()
    monkeypatch.setattr(strata.sinks.postgres, "SORT_MAX_ROWS", 5)
    wh.load("t", data, mode="replace", key=key, where={"day": 1})
    assert [r["id"] for batch in sent for r in batch] == ids
    assert {r["id"]: r["v"] for r in rows(wh, "t")} == {i: f"v{i}" for i in ids}


# -- refusals and failures leave the target as it was ----------------------------------------


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "new"])
def test_a_null_key_is_refused_and_changes_nothing(wh: PostgresWarehouse, existing: bool) -> None:
    if existing:
        wh.load("T", pa.table({"id": [1, 2], "v": ["a", "b"]}), mode="replace", key=["id"])
    before = rows(wh, "T") if existing else None
    ids = [10, 11, *range(12, 20_000)]
    ids[5_000] = None  # in the second batch of the stream
    data = pa.table({"id": pa.array(ids, pa.int64()), "v": ["x"] * len(ids)})

    with pytest.raises(WarehouseError) as caught:
        wh.load("T", data.to_reader(max_chunksize=4_000), mode="replace", key=["id"])

    assert caught.value.table == f"{wh.namespace}.T"
    assert f"{wh.namespace}.T" in str(caught.value)
    assert "row 5000 of the data" in str(caught.value) and "NULL key (id)" in str(caught.value)
    assert (rows(wh, "T") if existing else wh.tables()) == (before if existing else [])


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "new"])
@pytest.mark.parametrize("direct", [True, False], ids=["direct", "staged"])
def test_duplicate_keys_in_a_replace_are_refused_as_before(
    wh: PostgresWarehouse, existing: bool, direct: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the direct path, a replace with a repeated key failed on the primary key too."""
    if existing:
        wh.load("t", pa.table({"id": [1, 2], "v": ["a", "b"]}), mode="replace", key=["id"])
    before = rows(wh, "t") if existing else None
    if not direct:
        monkeypatch.setattr(wh, "_loads_directly", lambda *args: False)

    with pytest.raises(WarehouseError) as caught:
        data = pa.table({"id": [1, 3, 3], "v": ["x", "y", "z"]})
        wh.load("t", data, mode="replace", key=["id"])

    assert "(id)=(3)" in str(caught.value)
    assert (rows(wh, "t") if existing else wh.tables()) == (before if existing else [])


@pytest.mark.parametrize("mode", ["append", "replace"])
@pytest.mark.parametrize("existing", [True, False], ids=["existing", "new"])
def test_a_failure_after_the_copy_changes_nothing(
    wh: PostgresWarehouse, mode: Mode, existing: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if existing:
        wh.load("t", pa.table({"id": [1, 2], "v": ["a", "b"]}), mode="replace", key=["id"])
    before = (rows(wh, "t"), columns(wh, "t")) if existing else None
    copy = wh._copy

    def copy_then_fail(*args: Any) -> None:
        copy(*args)
        raise RuntimeError("injected failure after the COPY")

    monkeypatch.setattr(wh, "_copy", copy_then_fail)
    data = pa.table({"id": [3, 4], "v": ["c", "d"], "added": [1.5, 2.5]})  # ALTER TABLE, too

    with pytest.raises(WarehouseError, match="injected failure after the COPY"):
        wh.load("t", data, mode=mode, key=["id"])

    if existing:
        assert (rows(wh, "t"), columns(wh, "t")) == before
    else:
        assert wh.tables() == []


# -- readers ---------------------------------------------------------------------------------


def test_readers_see_the_old_or_the_new_rows_during_replaces(
    wh: PostgresWarehouse, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = (3_000, 5_000)
    tables = [pa.table({"id": list(range(n)), "v": ["x"] * n}) for n in sizes]
    wh.load("t", tables[0], mode="replace", key=["id"])
    target = qualified(wh, "t")

    # Deterministic: right after the COPY, before the commit, a reader is not blocked and
    # still sees the old rows.
    during: list[int] = []
    copy = wh._copy

    def copy_then_look(*args: Any) -> None:
        copy(*args)
        with pg.connect(pg_url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SET lock_timeout = '5s'")
            cur.execute(f"SELECT COUNT(*) FROM {target}")
            during.append(cur.fetchone()[0])

    monkeypatch.setattr(wh, "_copy", copy_then_look)
    wh.load("t", tables[1], mode="replace")
    monkeypatch.undo()
    assert during == [sizes[0]]

    # And a reader polling in a thread while replaces run back to back.
    seen: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        with pg.connect(pg_url, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SET lock_timeout = '5s'")
            while not stop.is_set():
                cur.execute(f"SELECT COUNT(*) FROM {target}")
                seen.append(cur.fetchone()[0])

    reader = threading.Thread(target=poll, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 1.0
        loads = 0
        while time.monotonic() < deadline or loads < 4:
            wh.load("t", tables[loads % 2], mode="replace")
            loads += 1
    finally:
        stop.set()
        reader.join(timeout=10)
    assert not reader.is_alive()
    assert seen and set(seen) <= set(sizes), sorted(set(seen))


def test_an_older_snapshot_keeps_seeing_the_rows_a_replace_deleted(
    wh: PostgresWarehouse, pg_url: str
) -> None:
    """DELETE, not a swap of a new table: REPEATABLE READ never sees the table empty."""
    wh.load("t", pa.table({"id": [1, 2, 3]}), mode="replace", key=["id"])
    with pg.connect(pg_url, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("SELECT 1")  # the snapshot is taken; the table is not touched yet
        cur.fetchall()
        wh.load("t", pa.table({"id": [7]}), mode="replace")
        cur.execute(f"SELECT COUNT(*) FROM {qualified(wh, 't')}")
        assert cur.fetchone()[0] == 3
    assert rows(wh, "t") == [{"id": 7}]


# -- merge -----------------------------------------------------------------------------------


def test_merge_leaves_unchanged_rows_alone_but_counts_them(
    wh: PostgresWarehouse, staged: list[str]
) -> None:
    data = pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"], "n": [1.0, 2.0, None]})
    wh.load("t", data, mode="merge", key=["id"])
    before = versions(wh, "t")

    again = wh.load("t", data, mode="merge", key=["id"])
    assert (again.inserted, again.updated) == (0, 3)
    assert versions(wh, "t") == before  # no new row versions

    batch = pa.table({"id": [2, 3, 4], "v": ["b", "c", "d"], "n": [2.5, None, 4.0]})
    result = wh.load("t", batch, mode="merge", key=["id"])
    after = versions(wh, "t")
    assert (result.inserted, result.updated) == (1, 2)
    assert after[1] == before[1] and after[3] == before[3]
    assert after[2] != before[2]
    assert rows(wh, "t") == [
        {"id": 1, "v": "a", "n": 1.0},
        {"id": 2, "v": "b", "n": 2.5},
        {"id": 3, "v": "c", "n": None},
        {"id": 4, "v": "d", "n": 4.0},
    ]
    assert len(staged) == 3  # a merge always stages


def test_merge_rewrites_values_that_only_compare_equal(wh: PostgresWarehouse) -> None:
    run_sql(
        wh,
        "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
    )
    run_sql(
        wh,
        f"CREATE TABLE {qualified(wh, 't')} (id BIGINT PRIMARY KEY, f DOUBLE PRECISION, "
        "name TEXT COLLATE ci, amount NUMERIC, ref UUID)",
    )
    run_sql(
        wh,
        f"INSERT INTO {qualified(wh, 't')} (id, f, name, amount) "
        "VALUES (1, 0.0, NULL, NULL), (2, NULL, 'abc', NULL), (3, NULL, NULL, 1.50)",
    )
    before = versions(wh, "t")
    data = pa.table(
        {
            "id": [1, 2, 3],
            "f": [-0.0, None, None],  # -0.0 = 0.0
            "name": [None, "ABC", None],  # equal under the column's collation
            "amount": pa.array([None, None, Decimal("1.5")], pa.decimal128(2, 1)),  # = 1.50
        }
    )
    assert wh.load("t", data, key=["id"]).updated == 3
    after = versions(wh, "t")
    assert all(after[i] != before[i] for i in (1, 2, 3))
    got = rows(wh, "t")
    assert math.copysign(1, got[0]["f"]) == -1
    assert (got[1]["name"], got[2]["amount"]) == ("ABC", "1.5")

    # A column of a type Strata does not manage (uuid) has no exact comparison: rewritten.
    ref = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    wh.load("t", pa.table({"id": [1], "ref": [ref]}), key=["id"])
    before = versions(wh, "t")
    wh.load("t", pa.table({"id": [1], "ref": [ref]}), key=["id"])
    assert versions(wh, "t") != before


def test_merge_into_a_new_table_keeps_the_last_row_of_a_repeated_key(
    wh: PostgresWarehouse,
) -> None:
    data = pa.table({"id": [1, 2, 1, 3, 2], "v": ["a", "b", "A", "c", "B"]})
    result = wh.load("t", data.to_reader(max_chunksize=2), key=["id"])
    assert (result.rows, result.inserted, result.updated) == (5, 3, 0)
    assert rows(wh, "t") == [{"id": 1, "v": "A"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}]
    assert primary_key(wh, "t") == ["id"]


def test_merge_of_key_columns_only_counts_present_keys_as_updated(wh: PostgresWarehouse) -> None:
    wh.load("pairs", pa.table({"a": [1, 2], "b": ["x", "y"]}), key=["a", "b"])
    result = wh.load("pairs", pa.table({"a": [1, 3, 3], "b": ["x", "z", "z"]}), key=["a", "b"])
    assert (result.inserted, result.updated) == (1, 1)  # like MySQL and DuckDB
