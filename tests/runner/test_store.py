"""RunStore: run history, step attempts and leases in SQLite."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from strata.errors import LeaseHeld
from strata.runner.lease import Lease
from strata.runner.store import AttemptRecord, RunRecord, RunStore


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "state" / "nested")


def test_store_creates_its_folder_and_database(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "a" / "b")
    assert store.path == tmp_path / "a" / "b" / "state.db"
    assert store.path.is_file()
    # Opening again over an existing database is fine.
    assert RunStore(tmp_path / "a" / "b").runs() == []


def test_lease_acquire_refuse_release(store: RunStore) -> None:
    taken, holder, left = store.acquire_lease("p", "run-1", 60)
    assert (taken, holder) == (True, "run-1")
    assert 59 < left <= 60
    taken, holder, left = store.acquire_lease("p", "run-2", 60)
    assert (taken, holder) == (False, "run-1")
    assert 0 < left <= 60
    # The holder can take it again (extends it); other pipelines are independent.
    assert store.acquire_lease("p", "run-1", 120)[0]
    assert store.acquire_lease("q", "run-2", 60)[0]
    # Only the owner can release it.
    store.release_lease("p", "run-2")
    assert not store.acquire_lease("p", "run-3", 60)[0]
    store.release_lease("p", "run-1")
    assert store.acquire_lease("p", "run-3", 60)[0]


def test_expired_lease_is_taken_over(store: RunStore) -> None:
    assert store.acquire_lease("p", "crashed", 0.001)[0]
    time.sleep(0.01)
    taken, holder, _ = store.acquire_lease("p", "next", 60)
    assert (taken, holder) == (True, "next")
    # The crashed owner can no longer renew it.
    assert not store.renew_lease("p", "crashed", 60)
    assert store.renew_lease("p", "next", 60)


def test_lease_context_manager(store: RunStore) -> None:
    with Lease(store, "p", "run-1", ttl=60) as lease:
        assert not lease.lost
        with pytest.raises(LeaseHeld) as caught, Lease(store, "p", "run-2", ttl=60):
            pass
        assert caught.value.owner == "run-1"
        assert "already running (run run-1)" in str(caught.value)
    assert store.acquire_lease("p", "run-2", 60)[0]


def test_runs_round_trip_and_order(store: RunStore) -> None:
    now = time.time()
    first = RunRecord(
        "r1",
        "p",
        "running",
        now - 10,
        profile="dev",
        engine="duckdb",
        params={"lake": "/x", "start_date": None},
    )
    store.start_run(first)
    store.start_run(RunRecord("r2", "p", "running", now - 5))
    store.start_run(RunRecord("r3", "q", "running", now))
    first.status, first.ended_at, first.error = "failed", now - 8, "boom"
    first.metrics = {"s": {"rows_out": 3}}
    store.finish_run(first)
    loaded = store.run("r1")
    assert loaded == RunRecord(
        "r1",
        "p",
        "failed",
        now - 10,
        now - 8,
        "dev",
        "duckdb",
        "boom",
        {"lake": "/x", "start_date": None},
        {"s": {"rows_out": 3}},
    )
    assert loaded.duration == pytest.approx(2)
    assert store.run("missing") is None
    assert [r.run_id for r in store.runs()] == ["r3", "r2", "r1"]
    assert [r.run_id for r in store.runs("p")] == ["r2", "r1"]
    assert [r.run_id for r in store.runs(limit=1)] == ["r3"]


def test_attempts_in_order_and_replace(store: RunStore) -> None:
    store.record_attempt(AttemptRecord("r", "b", 1, "succeeded", 20.0, 21.0, 1, 1))
    store.record_attempt(AttemptRecord("r", "a", 2, "succeeded", 10.0, 11.0))
    store.record_attempt(AttemptRecord("r", "a", 1, "failed", 5.0, 6.0, error="E: x"))
    store.record_attempt(AttemptRecord("other", "a", 1, "failed", 1.0))
    assert [(a.step, a.attempt) for a in store.attempts("r")] == [("a", 1), ("a", 2), ("b", 1)]
    # Same (run, step, attempt) replaces.
    store.record_attempt(AttemptRecord("r", "a", 1, "succeeded", 5.0, 7.0))
    assert store.attempts("r")[0] == AttemptRecord("r", "a", 1, "succeeded", 5.0, 7.0)


def test_mark_abandoned_only_touches_running_runs_of_the_pipeline(store: RunStore) -> None:
    now = time.time()
    store.start_run(RunRecord("a", "p", "running", now))
    store.start_run(RunRecord("b", "p", "succeeded", now))
    store.start_run(RunRecord("c", "q", "running", now))
    assert store.mark_abandoned("p") == 1
    assert [store.run(i).status for i in "abc"] == ["abandoned", "succeeded", "running"]
    assert store.run("a").error == "process ended without finishing"
    assert store.mark_abandoned("p") == 0


def test_prune_drops_old_runs_and_their_attempts(store: RunStore) -> None:
    now = time.time()
    for run_id, age in (("old", 8.0), ("older", 30.0), ("new", 1.0)):
        store.start_run(RunRecord(run_id, "p", "succeeded", now - age * 86400))
        store.record_attempt(AttemptRecord(run_id, "s", 1, "succeeded", now - age * 86400))
    assert store.prune(7) == 2
    assert [r.run_id for r in store.runs()] == ["new"]
    assert store.attempts("old") == [] and store.attempts("older") == []
    assert len(store.attempts("new")) == 1
