"""The landing area on a local folder and on S3 (moto server): listing, MD5 = ETag, moves."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from strata.errors import StorageError
from strata.files import Landing

GOOD = b"customer_id,store_id\n1,121\n"
OTHER = b"customer_id,store_id\n2,122\n"


@pytest.fixture(params=["local", "s3"])
def landing(request: pytest.FixtureRequest, tmp_path: Path) -> Landing:
    if request.param == "local":
        return Landing(str(tmp_path / "landing"))
    bucket = request.getfixturevalue("s3_bucket")
    return Landing(f"s3://{bucket}/landing")


def test_files_are_listed_with_size_and_md5(landing: Landing) -> None:
    landing.write("sales_data/a.csv", GOOD)
    landing.write("sales_data/2023/b.csv", OTHER)
    landing.write("elsewhere/c.csv", GOOD)
    files = {f.name: f for f in landing.files("sales_data")}
    assert sorted(files) == ["sales_data/2023/b.csv", "sales_data/a.csv"]
    assert files["sales_data/a.csv"].md5 == hashlib.md5(GOOD).hexdigest()
    assert (files["sales_data/a.csv"].size, files["sales_data/2023/b.csv"].base_name) == (
        len(GOOD),
        "b.csv",
    )
    assert landing.files("nothing_here") == []


def test_md5_is_the_s3_etag_of_a_single_part_upload(s3_bucket: str, aws_env: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=aws_env)
    client.put_object(Bucket=s3_bucket, Key="landing/sales_data/x.csv", Body=GOOD)
    etag = client.head_object(Bucket=s3_bucket, Key="landing/sales_data/x.csv")["ETag"]
    [listed] = Landing(f"s3://{s3_bucket}/landing").files("sales_data")
    assert listed.md5 == etag.strip('"')


def test_moves_keep_the_path_below_the_prefix(landing: Landing) -> None:
    landing.write("sales_data/2023/b.csv", OTHER)
    moved = landing.move("sales_data/2023/b.csv", "sales_data_processed")
    assert moved == "sales_data_processed/2023/b.csv"
    assert landing.read(moved) == OTHER
    assert not landing.exists("sales_data/2023/b.csv")
    # The same file again (a rerun after a crash) replaces the earlier copy.
    landing.write("sales_data/2023/b.csv", OTHER)
    assert landing.move("sales_data/2023/b.csv", "sales_data_processed") == moved
    with pytest.raises(StorageError, match="cannot move"):
        landing.move("sales_data/missing.csv", "sales_data_error")


def test_each_version_of_a_file_is_read_once_to_hash_it(
    landing: Landing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strata.files.digests import DigestCache

    cached = Landing(landing.uri, landing.area.s3_endpoint_url, DigestCache(tmp_path / "state"))
    reads: list[str] = []
    digest = Landing._digest

    def counting(self: Landing, name: str) -> tuple[int, str]:
        reads.append(name)
        return digest(self, name)

    monkeypatch.setattr(Landing, "_digest", counting)
    cached.write("sales_data/a.csv", GOOD)
    cached.write("sales_data/b.csv", OTHER)
    first = {f.name: f.md5 for f in cached.files("sales_data")}
    again = {f.name: f.md5 for f in cached.files("sales_data")}
    assert (
        first
        == again
        == {
            "sales_data/a.csv": hashlib.md5(GOOD).hexdigest(),
            "sales_data/b.csv": hashlib.md5(OTHER).hexdigest(),
        }
    )
    assert sorted(reads) == ["sales_data/a.csv", "sales_data/b.csv"]  # the second listing: none
    # Same name, same size, other bytes: a new version (mtime / ETag), hashed again.
    assert len(GOOD) == len(OTHER)
    cached.write("sales_data/a.csv", OTHER)
    if cached.area.is_local:  # a write within the same nanosecond tick is not a new version
        import os

        stat = os.stat(cached.area.path("sales_data/a.csv"))
        os.utime(cached.area.path("sales_data/a.csv"), ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    changed = {f.name: f.md5 for f in cached.files("sales_data")}
    assert changed["sales_data/a.csv"] == hashlib.md5(OTHER).hexdigest()
    assert reads.count("sales_data/a.csv") == 2 and reads.count("sales_data/b.csv") == 1
    # same_content uses the remembered digest too.
    local = tmp_path / "local.csv"
    local.write_bytes(OTHER)
    assert cached.same_content("sales_data/b.csv", local)
    assert not cached.same_content("sales_data/missing.csv", local)
    assert reads.count("sales_data/b.csv") == 1
