"""Delta tables through delta-rs: writes, upserts, and watermarks riding in the same commit."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from strata.errors import StorageError
from strata.lake.delta import DataFile, DeltaTableIO, Watermark, partition_predicate
from strata.lake.storage import Lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def table(lake: Lake) -> DeltaTableIO:
    return DeltaTableIO(lake, "silver/p/t")


def rows(io: DeltaTableIO, key: str = "id") -> list[dict]:
    return sorted(io.read().to_pylist(), key=lambda r: r[key])


def test_missing_table(table: DeltaTableIO) -> None:
    assert not table.exists()
    assert table.version() is None
    assert table.dataset() is None
    assert table.watermark("anything") is None
    with pytest.raises(StorageError, match="does not exist"):
        table.read()


def test_append_then_overwrite(table: DeltaTableIO) -> None:
    table.append(pa.table({"id": [1, 2], "v": ["a", "b"]}))
    table.append(pa.table({"id": [3], "v": ["c"]}))
    assert table.version() == 1
    assert [r["v"] for r in rows(table)] == ["a", "b", "c"]
    table.overwrite(pa.table({"id": [9], "v": ["z"]}))
    assert table.version() == 2
    assert rows(table) == [{"id": 9, "v": "z"}]
    # Time travel: the old snapshot is still readable.
    assert sorted(r["id"] for r in table.read(version=1).to_pylist()) == [1, 2, 3]


def test_commit_metadata_is_recorded(table: DeltaTableIO) -> None:
    table.append(pa.table({"id": [1]}), metadata={"strata.run_id": "run-7"})
    [last] = DeltaTable(table.uri).history(1)
    assert last["strata.run_id"] == "run-7"


def test_append_with_new_column_merges_schema(table: DeltaTableIO) -> None:
    table.append(pa.table({"id": [1]}))
    table.append(pa.table({"id": [2], "extra": ["x"]}))
    assert rows(table) == [{"id": 1, "extra": None}, {"id": 2, "extra": "x"}]


def test_replace_partitions_only_touches_present_partitions(table: DeltaTableIO) -> None:
    # First call creates the table.
    table.replace_partitions(
        pa.table({"dt": ["d1", "d1", "d2"], "id": [1, 2, 3], "v": [1, 1, 1]}), ["dt"]
    )
    table.replace_partitions(pa.table({"dt": ["d2", "d3"], "id": [30, 40], "v": [2, 2]}), ["dt"])
    assert rows(table) == [
        {"dt": "d1", "id": 1, "v": 1},
        {"dt": "d1", "id": 2, "v": 1},
        {"dt": "d2", "id": 30, "v": 2},
        {"dt": "d3", "id": 40, "v": 2},
    ]


def test_replace_partitions_with_quotes_in_values(table: DeltaTableIO) -> None:
    names = ["O'Brien", 'say "hi"', "it''s", "plain"]
    table.append(pa.table({"k": names, "v": [1, 2, 3, 4]}), partition_by=["k"])
    table.replace_partitions(pa.table({"k": names[:3], "v": [10, 20, 30]}), ["k"])
    assert {r["k"]: r["v"] for r in table.read().to_pylist()} == {
        "O'Brien": 10,
        'say "hi"': 20,
        "it''s": 30,
        "plain": 4,
    }


def test_replace_partitions_on_two_columns(table: DeltaTableIO) -> None:
    table.append(
        pa.table({"a": [1, 1, 2], "b": ["x", "y", "x"], "v": [1, 2, 3]}), partition_by=["a", "b"]
    )
    table.replace_partitions(pa.table({"a": [1], "b": ["y"], "v": [20]}), ["a", "b"])
    assert sorted((r["a"], r["b"], r["v"]) for r in table.read().to_pylist()) == [
        (1, "x", 1),
        (1, "y", 20),
        (2, "x", 3),
    ]


def test_partition_predicate_literals() -> None:
    data = pa.table({"k": ["O'Brien", "O'Brien", None], "n": [1, 1, 2], "f": [True, True, False]})
    single = partition_predicate(data, ["k"], alias="t")
    assert single.startswith("t.k IN (")
    assert "'O''Brien'" in single and "NULL" in single
    multi = partition_predicate(data.select(["n", "f"]), ["n", "f"])
    assert sorted(multi.split(" OR ")) == ["(n = 1 AND f = true)", "(n = 2 AND f = false)"]


def test_replace_partitions_with_an_empty_batch_keeps_the_table(table: DeltaTableIO) -> None:
    table.append(pa.table({"k": ["a", "b"], "v": [1, 2]}), partition_by=["k"])
    empty = pa.table({"k": pa.array([], pa.string()), "v": pa.array([], pa.int64())})
    table.replace_partitions(empty, ["k"], watermarks=[Watermark("src", 5)])
    assert rows(table, "k") == [{"k": "a", "v": 1}, {"k": "b", "v": 2}]
    assert table.watermark("src") == 5


def test_merge_upserts_and_creates_on_first_use(table: DeltaTableIO) -> None:
    first = table.merge(pa.table({"id": [1, 2], "v": ["a", "b"]}), ["id"])
    assert first == {"num_target_rows_inserted": 2, "num_target_rows_updated": 0}
    stats = table.merge(pa.table({"id": [2, 3], "v": ["B", "c"]}), ["id"])
    assert stats["num_target_rows_inserted"] == 1
    assert stats["num_target_rows_updated"] == 1
    assert rows(table) == [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}]


def test_merge_with_composite_key_and_partitions(table: DeltaTableIO) -> None:
    data = pa.table({"dt": ["d1", "d1", "d2"], "id": [1, 2, 1], "v": [1, 2, 3]})
    table.merge(data, ["dt", "id"], partition_by=["dt"])
    table.merge(pa.table({"dt": ["d2", "d2"], "id": [1, 2], "v": [30, 40]}), ["dt", "id"], ["dt"])
    assert sorted((r["dt"], r["id"], r["v"]) for r in table.read().to_pylist()) == [
        ("d1", 1, 1),
        ("d1", 2, 2),
        ("d2", 1, 30),
        ("d2", 2, 40),
    ]


def test_merge_adds_new_columns_as_null_for_old_rows(table: DeltaTableIO) -> None:
    table.merge(pa.table({"id": [1, 2], "v": ["a", "b"]}), ["id"])
    table.merge(pa.table({"id": [2, 3], "v": ["B", "c"], "extra": [1.5, 2.5]}), ["id"])
    assert rows(table) == [
        {"id": 1, "v": "a", "extra": None},
        {"id": 2, "v": "B", "extra": 1.5},
        {"id": 3, "v": "c", "extra": 2.5},
    ]


def test_merge_deletes_keys_in_the_same_commit(table: DeltaTableIO) -> None:
    table.merge(pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}), ["id"])
    stats = table.merge(
        pa.table({"id": [3, 4], "v": ["C", "d"]}),
        ["id"],
        watermarks=[Watermark("src", 7)],
        delete=pa.table({"id": pa.array([1, 9], pa.int32())}),  # 9 is absent: no-op
    )
    assert table.version() == 1
    assert table.watermark("src") == 7
    assert (stats["num_target_rows_deleted"], stats["num_target_rows_updated"]) == (1, 1)
    assert rows(table) == [{"id": 2, "v": "b"}, {"id": 3, "v": "C"}, {"id": 4, "v": "d"}]


def test_merge_of_only_deletes(table: DeltaTableIO) -> None:
    table.merge(pa.table({"dt": ["d1", "d2"], "id": [1, 2], "v": [1, 2]}), ["id"], ["dt"])
    empty = pa.table({"dt": pa.array([], pa.string()), "id": pa.array([], pa.int64()), "v": []})
    table.merge(reader(empty), ["id"], ["dt"], [Watermark("src", 1)], delete=pa.table({"id": [1]}))
    assert table.version() == 1 and table.watermark("src") == 1
    assert [r["id"] for r in rows(table)] == [2]
    # Only absent keys to delete: nothing changes but the watermark still commits.
    table.merge(empty, ["id"], ["dt"], [Watermark("src", 2)], delete=pa.table({"id": [5]}))
    assert table.version() == 2 and table.watermark("src") == 2
    assert [r["id"] for r in rows(table)] == [2]


def test_watermark_commits_with_the_merge(table: DeltaTableIO) -> None:
    table.merge(pa.table({"id": [1]}), ["id"], watermarks=[Watermark("src", 100)])
    assert table.version() == 0
    assert table.watermark("src") == 100
    table.merge(pa.table({"id": [2]}), ["id"], watermarks=[Watermark("src", 200)])
    assert table.version() == 1  # one commit holds data and checkpoint
    assert table.watermark("src") == 200
    # The previous snapshot still shows the previous checkpoint: they moved together.
    previous = DeltaTable(table.uri, version=0)
    assert previous.transaction_version("src") == 100
    assert previous.to_pyarrow_table().num_rows == 1


def test_several_watermarks_in_one_commit(table: DeltaTableIO) -> None:
    table.append(pa.table({"id": [1]}), watermarks=[Watermark("a", 1), Watermark("b", 7)])
    table.overwrite(pa.table({"id": [2]}), watermarks=[Watermark("a", 2)])
    assert table.version() == 1
    assert table.watermark("a") == 2
    assert table.watermark("b") == 7  # untouched watermarks carry over
    assert table.watermark("c") is None


@pytest.mark.parametrize("how", ["append", "merge"])
def test_write_type_clash_is_a_storage_error(table: DeltaTableIO, how: str) -> None:
    table.append(pa.table({"id": [1], "v": [1]}))
    clash = pa.table({"id": [2], "v": ["not a number"]})
    with pytest.raises(StorageError, match="Delta table"):
        if how == "append":
            table.append(clash)
        else:
            table.merge(clash, ["id"])


def test_merge_of_an_empty_batch_still_commits_the_watermark(table: DeltaTableIO) -> None:
    table.merge(pa.table({"id": [1]}), ["id"], watermarks=[Watermark("src", 1)])
    empty = pa.table({"id": pa.array([], pa.int64())})
    table.merge(empty, ["id"], watermarks=[Watermark("src", 2)])
    assert rows(table) == [{"id": 1}]
    assert table.watermark("src") == 2


def test_corrupt_table_is_a_storage_error(lake: Lake, table: DeltaTableIO) -> None:
    lake.write_bytes("silver/p/t/_delta_log/00000000000000000000.json", b"not json")
    with pytest.raises(StorageError):
        table.exists()


def test_vacuum(table: DeltaTableIO) -> None:
    assert DeltaTableIO(table.lake, "silver/p/none").vacuum(0) == []
    table.append(pa.table({"id": [1]}))
    table.overwrite(pa.table({"id": [2]}))
    removed = table.vacuum(0)
    assert len(removed) == 1
    assert rows(table) == [{"id": 2}]


# --- streamed writes ------------------------------------------------------------------------


def reader(table: pa.Table, batch_rows: int = 2) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(batch_rows))


def test_writes_take_record_batch_readers(table: DeltaTableIO) -> None:
    table.append(reader(pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]})))
    table.overwrite(reader(pa.table({"id": [4, 5, 6, 7], "v": ["d", "e", "f", "g"]})))
    assert [r["id"] for r in rows(table)] == [4, 5, 6, 7]
    assert table.version() == 1


def test_replace_partitions_from_a_reader_needs_its_partitions(table: DeltaTableIO) -> None:
    table.append(pa.table({"dt": ["d1", "d2"], "id": [1, 2]}), partition_by=["dt"])
    batch = pa.table({"dt": ["d2", "d3", "d3"], "id": [20, 30, 31]})
    with pytest.raises(TypeError, match="partitions"):
        table.replace_partitions(reader(batch), ["dt"])
    present = pa.table({"dt": ["d2", "d3"]})
    table.replace_partitions(
        reader(batch), ["dt"], watermarks=[Watermark("src", 3)], partitions=present
    )
    assert [(r["dt"], r["id"]) for r in rows(table)] == [
        ("d1", 1),
        ("d2", 20),
        ("d3", 30),
        ("d3", 31),
    ]
    assert table.watermark("src") == 3
    # No partitions means no rows: the watermark still commits, nothing is replaced.
    empty = pa.table({"dt": pa.array([], pa.string()), "id": pa.array([], pa.int64())})
    table.replace_partitions(
        reader(empty), ["dt"], watermarks=[Watermark("src", 4)], partitions=empty.select(["dt"])
    )
    assert len(rows(table)) == 4 and table.watermark("src") == 4


def test_merge_takes_a_reader(table: DeltaTableIO) -> None:
    first = table.merge(reader(pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]})), ["id"])
    assert first == {"num_target_rows_inserted": 3, "num_target_rows_updated": 0}
    stats = table.merge(reader(pa.table({"id": [3, 4], "v": ["C", "d"]}), 1), ["id"])
    assert (stats["num_target_rows_inserted"], stats["num_target_rows_updated"]) == (1, 1)
    assert [r["v"] for r in rows(table)] == ["a", "b", "C", "d"]
    empty = pa.table({"id": pa.array([], pa.int64()), "v": pa.array([], pa.string())})
    table.merge(reader(empty), ["id"], watermarks=[Watermark("src", 9)])
    assert len(rows(table)) == 4 and table.watermark("src") == 9


def test_merge_from_a_reader_prunes_by_the_given_partitions(table: DeltaTableIO) -> None:
    table.merge(pa.table({"dt": ["d1", "d2"], "id": [1, 1], "v": [1, 2]}), ["dt", "id"], ["dt"])
    batch = pa.table({"dt": ["d2"], "id": [1], "v": [20]})
    table.merge(reader(batch), ["dt", "id"], ["dt"], partitions=pa.table({"dt": ["d2"]}))
    assert sorted((r["dt"], r["v"]) for r in table.read().to_pylist()) == [("d1", 1), ("d2", 20)]


def test_row_groups_are_bounded(table: DeltaTableIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("strata.lake.delta.ROW_GROUP_ROWS", 4)
    table.append(reader(pa.table({"id": list(range(10))}), 3))
    [path] = table.dataset().files
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_rows == 10 and metadata.num_row_groups == 3
    assert metadata.row_group(0).column(0).compression == "SNAPPY"


def test_local_dataset_reads_files_by_absolute_path(table: DeltaTableIO) -> None:
    table.append(pa.table({"k": ["a b", None], "v": [1, 2]}), partition_by=["k"])
    dataset = table.dataset()
    assert isinstance(dataset, ds.FileSystemDataset)
    assert isinstance(dataset.filesystem, pafs.LocalFileSystem)
    assert all(f.startswith(table.uri + "/") for f in dataset.files)
    assert sorted(dataset.to_table().to_pylist(), key=lambda r: r["v"]) == [
        {"v": 1, "k": "a b"},
        {"v": 2, "k": None},
    ]


def written(table: DeltaTableIO, data: pa.Table, part: str | None = None) -> DataFile:
    """A Parquet file put in the table's folder by another writer, as Spark would."""
    folder = Path(table.uri) / "writer-1" / (f"day={part}" if part else "")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{len(list(folder.iterdir()))}.parquet"
    pq.write_table(data, path)
    relative = path.relative_to(table.uri).as_posix()
    values = {"day": part} if part else {}
    return DataFile(relative, path.stat().st_size, data.num_rows, values, 1_700_000_000_000)


def test_files_written_elsewhere_commit_as_they_are(table: DeltaTableIO) -> None:
    schema = pa.schema([("id", pa.int64()), ("v", pa.string()), ("day", pa.string())])
    assert table.takes_files(schema, ["day"])  # a new table takes any such files
    first = [
        written(table, pa.table({"id": [1, 2], "v": ["a", "b"]}), "2024-01-01"),
        written(table, pa.table({"id": [3], "v": ["c"]}), "2024-01-02"),
    ]
    table.commit_files(first, schema, "overwrite", ["day"], [Watermark("src", 7)], {"m": "1"})
    assert [(r["id"], r["day"]) for r in rows(table)] == [
        (1, "2024-01-01"),
        (2, "2024-01-01"),
        (3, "2024-01-02"),
    ]
    assert table.watermark("src") == 7
    stats = pa.table(DeltaTable(table.uri).get_add_actions(flatten=True)).to_pydict()
    assert sorted(stats["num_records"]) == [1, 2]

    more = [written(table, pa.table({"id": [4], "v": ["d"]}), "2024-01-02")]
    table.commit_files(more, schema, "append", ["day"], [Watermark("src", 8)])
    assert [r["id"] for r in rows(table)] == [1, 2, 3, 4]

    again = [written(table, pa.table({"id": [9], "v": ["z"]}), "2024-01-03")]
    table.commit_files(again, schema, "overwrite", ["day"], [Watermark("src", 9)])
    assert [(r["id"], r["day"]) for r in rows(table)] == [(9, "2024-01-03")]
    assert (table.version(), table.watermark("src")) == (2, 9)


def test_files_are_not_taken_when_the_table_would_change_shape(table: DeltaTableIO) -> None:
    table.overwrite(pa.table({"id": [1], "day": ["2024-01-01"]}), ["day"])
    same = pa.schema([("id", pa.int64()), ("day", pa.string())])
    assert table.takes_files(same, ["day"])
    assert not table.takes_files(same.append(pa.field("new", pa.int64())), ["day"])
    assert not table.takes_files(same, [])  # other partitioning
    stamped = pa.schema([("id", pa.int64()), ("at", pa.timestamp("us"))])
    assert not DeltaTableIO(table.lake, "silver/p/other").takes_files(stamped, ["at"])


def test_changed_partitions_lists_what_a_reader_of_an_older_version_must_sync(
    tmp_path: Path,
) -> None:
    import datetime as dt

    table = DeltaTableIO(Lake(str(tmp_path)), "gold/p/t")
    assert table.changed_partitions(None) == (None, [])
    days = [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]
    table.overwrite(pa.table({"k": [1, 2], "date_key": days}), ["date_key"])
    assert table.changed_partitions(None) == (
        0,
        [{"date_key": "2024-01-01"}, {"date_key": "2024-01-02"}],
    )
    table.replace_partitions(pa.table({"k": [3], "date_key": days[1:]}), ["date_key"])
    assert table.changed_partitions(0) == (1, [{"date_key": "2024-01-02"}])
    assert table.changed_partitions(1) == (1, [])
