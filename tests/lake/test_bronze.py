"""Bronze: one folder per load, a manifest written last, identical content stored once."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from strata.errors import StorageError
from strata.lake.bronze import MANIFEST, Bronze, Manifest, new_load_id
from strata.lake.storage import Lake

ROWS = b'{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n{"id": 3, "name": null}\n'


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def bronze(lake: Lake) -> Bronze:
    return Bronze(lake, "pipe", "events")


def jsonl(*ids: int) -> bytes:
    return b"".join(json.dumps({"id": i, "value": i * 10}).encode() + b"\n" for i in ids)


def test_write_creates_load_dir_and_manifest(bronze: Bronze, lake: Lake, tmp_path: Path) -> None:
    manifest = bronze.write(
        "events.jsonl", ROWS, fmt="jsonl", run_id="run-1", source_position={"page": 3}
    )
    folder = tmp_path / "lake" / "bronze" / "pipe" / "events" / f"load_id={manifest.load_id}"
    assert (folder / "events.jsonl").read_bytes() == ROWS
    on_disk = json.loads((folder / MANIFEST).read_text())
    assert on_disk["load_id"] == manifest.load_id
    assert on_disk["run_id"] == "run-1"
    assert on_disk["pipeline"] == "pipe" and on_disk["entity"] == "events"
    assert on_disk["format"] == "jsonl"
    assert on_disk["rows"] == 3
    assert on_disk["source_position"] == {"page": 3}
    assert on_disk["reused"] is False
    assert on_disk["schema"] == [
        {"name": "id", "type": "int64"},
        {"name": "name", "type": "string"},
    ]
    [file] = on_disk["files"]
    assert file == {
        "name": "events.jsonl",
        "sha256": hashlib.sha256(ROWS).hexdigest(),
        "md5": hashlib.md5(ROWS).hexdigest(),
        "bytes": len(ROWS),
        "rows": 3,
    }
    assert Manifest.from_json((folder / MANIFEST).read_bytes()) == manifest


def test_load_ids_are_sortable_timestamps() -> None:
    load_id = new_load_id()
    assert len(str(load_id)) == 17
    assert str(load_id).startswith("20")


def test_identical_bytes_are_stored_once(bronze: Bronze, lake: Lake) -> None:
    first = bronze.write("a.jsonl", ROWS, fmt="jsonl", run_id="run-1")
    again = bronze.write("b.jsonl", ROWS, fmt="jsonl", run_id="run-2")
    assert again.reused is True
    assert again.load_id == first.load_id
    assert again.run_id == "run-1"  # the load that holds the content
    assert again.files[0].name == "a.jsonl"
    assert [m.load_id for m in bronze.loads()] == [first.load_id]
    assert lake.list_dirs(bronze.prefix) == ["_hashes", f"load_id={first.load_id}"]


def test_loads_in_order_and_after(bronze: Bronze) -> None:
    ids = [bronze.write(f"{n}.jsonl", jsonl(n), fmt="jsonl", run_id="r").load_id for n in range(4)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [m.load_id for m in bronze.loads()] == ids
    assert [m.load_id for m in bronze.loads(after=ids[1])] == ids[2:]
    assert list(bronze.loads(after=ids[-1])) == []
    assert [m.load_id for m in bronze.loads(after=0)] == ids


def test_load_without_manifest_is_ignored(bronze: Bronze, lake: Lake) -> None:
    done = bronze.write("ok.jsonl", jsonl(1), fmt="jsonl", run_id="r")
    # A crash mid-write: the data file is there, the manifest never was.
    lake.write_bytes(f"{bronze.prefix}/load_id={done.load_id + 1}/half.jsonl", jsonl(2))
    assert [m.load_id for m in bronze.loads()] == [done.load_id]
    assert bronze.manifest(done.load_id + 1) is None


def test_loads_of_an_empty_entity(bronze: Bronze) -> None:
    assert list(bronze.loads()) == []


def test_read_returns_the_data(bronze: Bronze) -> None:
    manifest = bronze.write("events.jsonl", ROWS, fmt="jsonl", run_id="r")
    table = bronze.read(manifest)
    assert table.to_pylist() == [
        {"id": 1, "name": "a"},
        {"id": 2, "name": "b"},
        {"id": 3, "name": None},
    ]


def test_read_csv_and_parquet(lake: Lake) -> None:
    csv = Bronze(lake, "pipe", "csv")
    manifest = csv.write("x.csv", b"id,v\n1,a\n2,b\n", fmt="csv", run_id="r")
    assert manifest.rows == 2
    assert csv.read(manifest).to_pylist() == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]

    sink = io.BytesIO()
    pq.write_table(pa.table({"x": [1.5, 2.5]}), sink)
    parquet = Bronze(lake, "pipe", "pq")
    manifest = parquet.write("x.parquet", sink.getvalue(), fmt="parquet", run_id="r")
    assert manifest.schema == [{"name": "x", "type": "double"}]
    assert parquet.read(manifest).column("x").to_pylist() == [1.5, 2.5]


def test_read_of_a_deleted_file_is_a_storage_error(bronze: Bronze, lake: Lake) -> None:
    manifest = bronze.write("e.jsonl", jsonl(1), fmt="jsonl", run_id="r")
    lake.fs.delete_file(lake.path(f"{bronze.prefix}/load_id={manifest.load_id}/e.jsonl"))
    with pytest.raises(StorageError, match="cannot read"):
        bronze.read(manifest)


def test_delete_removes_load_and_hash_marker(bronze: Bronze, lake: Lake) -> None:
    keep = bronze.write("a.jsonl", jsonl(1), fmt="jsonl", run_id="r")
    gone = bronze.write("b.jsonl", jsonl(2), fmt="jsonl", run_id="r")
    bronze.delete(gone)
    assert [m.load_id for m in bronze.loads()] == [keep.load_id]
    assert not lake.exists(f"{bronze.prefix}/load_id={gone.load_id}")
    assert not lake.exists(f"{bronze.prefix}/_hashes/{gone.files[0].sha256}")
    # The same content arriving again after retention is a new load, not a dangling reuse.
    back = bronze.write("b.jsonl", jsonl(2), fmt="jsonl", run_id="r2")
    assert back.reused is False
    assert back.load_id != gone.load_id
    assert bronze.read(back).to_pylist() == [{"id": 2, "value": 20}]


TYPED = pa.table(
    {
        "id": pa.array([1, 2, 3, 4], pa.int32()),
        "price": pa.array(["1.25", None, "-3.10", "0.00"], pa.string()).cast(pa.decimal128(10, 2)),
        "at": pa.array([1_700_000_000_123_456, None, 0, 1], pa.timestamp("us")),
        "text": ['a,"b"', None, "héllo\nwörld 🎉", ""],
    }
)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_batches_streams_files_and_keeps_exact_types(bronze: Bronze, fmt: str) -> None:
    reader = TYPED.to_reader(max_chunksize=1)
    manifest = bronze.write_batches("t", reader, fmt=fmt, run_id="r", rows_per_file=3)
    assert manifest is not None and manifest.rows == 4
    assert [f.name for f in manifest.files] == [f"t-00000.{fmt}", f"t-00001.{fmt}"]
    assert [f.rows for f in manifest.files] == [3, 1]
    assert bronze.read(manifest).equals(TYPED)  # NULL vs "" and decimals survive CSV too


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_write_batches_stores_identical_content_once(bronze: Bronze, fmt: str) -> None:
    first = bronze.write_batches("t", TYPED.to_reader(), fmt=fmt, run_id="r1")
    again = bronze.write_batches("t", TYPED.to_reader(), fmt=fmt, run_id="r2")
    assert first is not None and again is not None
    assert again.reused and again.load_id == first.load_id
    assert len(list(bronze.loads())) == 1


def test_write_batches_of_nothing_writes_no_load(bronze: Bronze) -> None:
    empty = TYPED.slice(0, 0)
    assert bronze.write_batches("t", empty.to_reader(), run_id="r") is None
    assert list(bronze.loads()) == []


def test_dataset_reads_loads_lazily_with_load_ids_and_unified_schema(bronze: Bronze) -> None:
    first = bronze.write_batches("t", TYPED.to_reader(), run_id="r")
    wider = TYPED.slice(0, 1).append_column("extra", pa.array(["x"]))
    second = bronze.write_batches("t", wider.to_reader(), run_id="r")
    assert first is not None and second is not None
    data = bronze.dataset(list(bronze.loads())).to_table()
    assert data.num_rows == 5
    assert data.column("_load_id").to_pylist() == [first.load_id] * 4 + [second.load_id]
    assert data.column("extra").to_pylist() == [None] * 4 + ["x"]


def test_load_ids_strictly_increase_even_within_a_millisecond() -> None:
    ids = [new_load_id() for _ in range(200)]
    assert ids == sorted(set(ids))


def test_deleting_a_streamed_load_removes_its_content_marker(bronze: Bronze, lake: Lake) -> None:
    manifest = bronze.write_batches("t", TYPED.to_reader(max_chunksize=2), run_id="r")
    assert manifest is not None and manifest.content_sha256
    marker = f"{bronze.prefix}/_hashes/{manifest.content_sha256}"
    assert lake.exists(marker)
    bronze.delete(manifest)
    assert not lake.exists(marker) and bronze.latest() is None
    again = bronze.write_batches("t", TYPED.to_reader(max_chunksize=2), run_id="r2")
    assert again is not None and not again.reused


def test_latest_is_the_newest_committed_load(bronze: Bronze) -> None:
    first = bronze.write("a.jsonl", jsonl(1), fmt="jsonl", run_id="r")
    second = bronze.write("b.jsonl", jsonl(2), fmt="jsonl", run_id="r")
    latest = bronze.latest()
    assert latest is not None and latest.load_id == second.load_id != first.load_id


def test_dataset_unions_loads_of_different_formats(bronze: Bronze) -> None:
    first = bronze.write_batches("t", TYPED.to_reader(), fmt="csv", run_id="r")
    second = bronze.write_batches("t", TYPED.slice(0, 2).to_reader(), fmt="parquet", run_id="r")
    assert first is not None and second is not None
    data = bronze.dataset(list(bronze.loads())).to_table()
    assert data.num_rows == 6
    assert sorted(set(data.column("_load_id").to_pylist())) == [first.load_id, second.load_id]
    assert (
        data.filter(pa.compute.equal(data["_load_id"], second.load_id))
        .drop_columns(["_load_id"])
        .sort_by("id")
        .equals(TYPED.slice(0, 2))
    )
