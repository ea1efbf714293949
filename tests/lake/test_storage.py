"""The Lake storage interface on a local folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from strata.errors import StorageError
from strata.lake.storage import Lake


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def test_local_lake_creates_its_root(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "new" / "lake"))
    assert (tmp_path / "new" / "lake").is_dir()
    assert lake.is_local
    assert lake.uri == (tmp_path / "new" / "lake").resolve().as_posix()
    assert lake.storage_options == {}


def test_file_uri_is_local(tmp_path: Path) -> None:
    lake = Lake(f"file://{tmp_path / 'lake'}")
    assert lake.is_local
    assert lake.root == (tmp_path / "lake").resolve().as_posix()


def test_paths_and_table_uri(lake: Lake) -> None:
    assert lake.path("silver", "/p/", "t") == f"{lake.root}/silver/p/t"
    assert lake.table_uri("silver/p/t") == f"{lake.root}/silver/p/t"


def test_write_read_exists(lake: Lake, tmp_path: Path) -> None:
    assert not lake.exists("a/b/c.txt")
    lake.write_bytes("a/b/c.txt", b"hello")
    assert lake.exists("a/b/c.txt")
    assert lake.exists("a/b")
    assert lake.read_bytes("a/b/c.txt") == b"hello"
    assert (tmp_path / "lake" / "a" / "b" / "c.txt").read_bytes() == b"hello"
    lake.write_bytes("a/b/c.txt", b"again")  # overwrite
    assert lake.read_bytes("a/b/c.txt") == b"again"


def test_read_missing_raises_storage_error(lake: Lake) -> None:
    with pytest.raises(StorageError, match="cannot read"):
        lake.read_bytes("nope/missing.json")


def test_list_dirs_and_files(lake: Lake) -> None:
    lake.write_bytes("t/x=2/f1", b"1")
    lake.write_bytes("t/x=1/f2", b"2")
    lake.write_bytes("t/x=1/deep/f3", b"3")
    lake.write_bytes("t/top", b"4")
    assert lake.list_dirs("t") == ["x=1", "x=2"]
    assert lake.list_files("t") == ["top"]
    assert lake.list_files("t", recursive=True) == ["top", "x=1/deep/f3", "x=1/f2", "x=2/f1"]
    assert lake.list_dirs("missing") == []
    assert lake.list_files("missing", recursive=True) == []


def test_delete_dir(lake: Lake) -> None:
    lake.write_bytes("d/e/f", b"1")
    lake.write_bytes("keep/g", b"2")
    lake.delete_dir("d")
    assert not lake.exists("d")
    assert lake.exists("keep/g")
    lake.delete_dir("d")  # deleting what is gone is a no-op


@pytest.mark.parametrize("uri", ["ftp://host/lake", "gs://bucket/lake", "http://x/y"])
def test_unsupported_scheme(uri: str) -> None:
    with pytest.raises(StorageError, match="unsupported lake URI"):
        Lake(uri)
