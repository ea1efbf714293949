"""Run history and leases in a small SQLite database beside the lake (`<lake>/_strata`).

SQLite gives the lease its atomicity: taking it is one `INSERT … ON CONFLICT DO UPDATE … WHERE
expired` statement, so two processes can never both hold it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, ended_at REAL, profile TEXT, engine TEXT, error TEXT,
    params TEXT, metrics TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL, step TEXT NOT NULL, attempt INTEGER NOT NULL, status TEXT NOT NULL,
    started_at REAL NOT NULL, ended_at REAL, rows_in INTEGER, rows_out INTEGER, error TEXT,
    PRIMARY KEY (run_id, step, attempt)
);
CREATE TABLE IF NOT EXISTS leases (
    pipeline TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL
);
"""


@dataclass
class RunRecord:
    run_id: str
    pipeline: str
    status: str
    started_at: float
    ended_at: float | None = None
    profile: str | None = None
    engine: str | None = None
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass
class AttemptRecord:
    run_id: str
    step: str
    attempt: int
    status: str
    started_at: float
    ended_at: float | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    error: str | None = None


class StateDB:
    """A store in the state database (`<folder>/state.db`, SQLite in WAL mode), with its
    tables created from `schema` on first use; each statement autocommits."""

    schema = ""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "state.db"
        with self._connect() as con:
            con.executescript(self.schema)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            yield con
        finally:
            con.close()


class RunStore(StateDB):
    """Runs, step attempts and leases of every pipeline using one lake."""

    schema = SCHEMA

    # -- leases ---------------------------------------------------------------------------
    def acquire_lease(self, pipeline: str, owner: str, ttl: float) -> tuple[bool, str, float]:
        """Take the lease if free or expired; returns (taken, holder, seconds left)."""
        now = time.time()
        with self._connect() as con:
            con.execute(
                "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT(pipeline) DO UPDATE SET "
                "owner = excluded.owner, expires_at = excluded.expires_at "
                "WHERE leases.expires_at < ? OR leases.owner = excluded.owner",
                (pipeline, owner, now + ttl, now),
            )
            holder, expires = con.execute(
                "SELECT owner, expires_at FROM leases WHERE pipeline = ?", (pipeline,)
            ).fetchone()
        return holder == owner, holder, expires - now

    def renew_lease(self, pipeline: str, owner: str, ttl: float) -> bool:
        with self._connect() as con:
            cur = con.execute(
                "UPDATE leases SET expires_at = ? WHERE pipeline = ? AND owner = ?",
                (time.time() + ttl, pipeline, owner),
            )
        return cur.rowcount == 1

    def release_lease(self, pipeline: str, owner: str) -> None:
        with self._connect() as con:
            con.execute("DELETE FROM leases WHERE pipeline = ? AND owner = ?", (pipeline, owner))

    # -- runs -----------------------------------------------------------------------------
    def start_run(self, run: RunRecord) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.run_id,
                    run.pipeline,
                    run.status,
                    run.started_at,
                    run.ended_at,
                    run.profile,
                    run.engine,
                    run.error,
                    json.dumps(run.params, default=str),
                    json.dumps(run.metrics, default=str),
                ),
            )

    def finish_run(self, run: RunRecord) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status = ?, ended_at = ?, error = ?, metrics = ? WHERE run_id = ?",
                (
                    run.status,
                    run.ended_at,
                    run.error,
                    json.dumps(run.metrics, default=str),
                    run.run_id,
                ),
            )

    def record_attempt(self, attempt: AttemptRecord) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attempt.run_id,
                    attempt.step,
                    attempt.attempt,
                    attempt.status,
                    attempt.started_at,
                    attempt.ended_at,
                    attempt.rows_in,
                    attempt.rows_out,
                    attempt.error,
                ),
            )

    def runs(self, pipeline: str | None = None, limit: int = 20) -> list[RunRecord]:
        query = "SELECT * FROM runs"
        args: tuple[Any, ...] = ()
        if pipeline:
            query += " WHERE pipeline = ?"
            args = (pipeline,)
        with self._connect() as con:
            rows = con.execute(query + " ORDER BY started_at DESC LIMIT ?", (*args, limit))
            return [_run_from_row(r) for r in rows.fetchall()]

    def run(self, run_id: str) -> RunRecord | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else _run_from_row(row)

    def attempts(self, run_id: str) -> list[AttemptRecord]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT * FROM attempts WHERE run_id = ? ORDER BY started_at, attempt", (run_id,)
            ).fetchall()
        return [AttemptRecord(*r) for r in rows]

    def mark_abandoned(self, pipeline: str) -> int:
        """Runs left 'running' by a crashed process (its lease is gone) become 'abandoned'."""
        with self._connect() as con:
            cur = con.execute(
                "UPDATE runs SET status = 'abandoned', error = 'process ended without finishing' "
                "WHERE pipeline = ? AND status = 'running'",
                (pipeline,),
            )
        return cur.rowcount

    def prune(self, older_than_days: float) -> int:
        """Drop run history older than the log retention."""
        cutoff = time.time() - older_than_days * 86400
        with self._connect() as con:
            con.execute(
                "DELETE FROM attempts WHERE run_id IN "
                "(SELECT run_id FROM runs WHERE started_at < ?)",
                (cutoff,),
            )
            cur = con.execute("DELETE FROM runs WHERE started_at < ?", (cutoff,))
        return cur.rowcount


def _run_from_row(row: tuple[Any, ...]) -> RunRecord:
    run_id, pipeline, status, started, ended, profile, engine, error, params, metrics = row
    return RunRecord(
        run_id,
        pipeline,
        status,
        started,
        ended,
        profile,
        engine,
        error,
        params=json.loads(params or "{}"),
        metrics=json.loads(metrics or "{}"),
    )


class Checkpoints(StateDB):
    """Named positions a pipeline keeps between runs outside the lake's own watermarks (e.g.
    the last gold version announced on a queue)."""

    schema = """
    CREATE TABLE IF NOT EXISTS checkpoints (
        pipeline TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, updated_at REAL,
        PRIMARY KEY (pipeline, name)
    );
    """

    def get(self, pipeline: str, name: str) -> str | None:
        with self._connect() as con:
            row = con.execute(
                "SELECT value FROM checkpoints WHERE pipeline = ? AND name = ?", (pipeline, name)
            ).fetchone()
        return None if row is None else str(row[0])

    def set(self, pipeline: str, name: str, value: str) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO checkpoints VALUES (?, ?, ?, ?) ON CONFLICT (pipeline, name) "
                "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (pipeline, name, value, time.time()),
            )
