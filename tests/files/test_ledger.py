"""The file ledger: statuses, one ingestion per content, and files a crashed run left active."""

from __future__ import annotations

from pathlib import Path

import pytest

from strata.errors import ConfigError
from strata.files import FileLedger, LandedFile

A = LandedFile("sales_data/a.csv", 10, "a" * 32)
A_RENAMED = LandedFile("sales_data/a-copy.csv", 10, "a" * 32)
B = LandedFile("sales_data/b.csv", 20, "b" * 32)


@pytest.fixture
def ledger(tmp_path: Path) -> FileLedger:
    return FileLedger(tmp_path / "state")


def test_a_file_goes_pending_active_processed(ledger: FileLedger) -> None:
    assert ledger.register("p", A, "s3://x/sales_data/a.csv").status == "pending"
    claim = ledger.claim("p", A, "s3://x/sales_data/a.csv", "run-1")
    assert claim is not None and not claim.recovered
    assert ledger.entry("p", A.md5).status == "active"  # type: ignore[union-attr]
    ledger.finish("p", A.md5, "processed", location="s3://x/sales_data_processed/a.csv")
    entry = ledger.entry("p", A.md5)
    assert entry is not None
    assert (entry.status, entry.run_id, entry.location) == (
        "processed",
        "run-1",
        "s3://x/sales_data_processed/a.csv",
    )


def test_the_same_bytes_are_never_ingested_twice(ledger: FileLedger) -> None:
    ledger.claim("p", A, "here", "run-1")
    ledger.finish("p", A.md5, "processed")
    assert ledger.claim("p", A, "here", "run-2") is None
    assert ledger.claim("p", A_RENAMED, "there", "run-2") is None  # another name, same content
    assert ledger.claim("other-pipeline", A, "here", "run-2") is not None


def test_a_file_left_active_by_a_dead_run_is_recovered(ledger: FileLedger) -> None:
    ledger.claim("p", A, "here", "run-1")
    ledger.claim("p", B, "here", "run-1")
    ledger.finish("p", B.md5, "processed")
    # run-1 died with A active; run-2 sees it and takes it over.
    assert [e.name for e in ledger.abandoned("p", "run-2")] == [A.name]
    claim = ledger.claim("p", A, "here", "run-2")
    assert claim is not None and (claim.recovered, claim.previous_run) == (True, "run-1")
    assert ledger.abandoned("p", "run-2") == []


def test_a_failed_file_keeps_its_reason_and_can_be_retried(ledger: FileLedger) -> None:
    ledger.claim("p", B, "here", "run-1")
    ledger.finish("p", B.md5, "failed", "line 3, column price: 'x' is not a decimal", "err/b")
    entry = ledger.entry("p", B.md5)
    assert entry is not None and (entry.status, entry.location) == ("failed", "err/b")
    assert entry.reason is not None and "column price" in entry.reason
    again = ledger.claim("p", B, "here", "run-2")
    assert again is not None and not again.recovered
    assert [e.status for e in ledger.entries("p")] == ["active"]
    with pytest.raises(ConfigError, match="processed or failed"):
        ledger.finish("p", B.md5, "pending")
    with pytest.raises(ConfigError, match="no file with MD5"):
        ledger.finish("p", "f" * 32, "processed")
