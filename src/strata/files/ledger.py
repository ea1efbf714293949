"""The file ledger: every landed file a pipeline has seen, by content, with its status.

pending (listed) → active (a run is ingesting it) → processed | failed (with the reason).
Rows are keyed by (pipeline, MD5): a byte-identical file is ingested once, whatever its name.
A file left `active` by a run that died is handed to the next run (`claim` says it was
recovered), so it is finished or redone, never lost and never taken twice. The ledger lives in
the state database beside the run history (`<state>/state.db`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from strata.errors import ConfigError
from strata.files.landing import LandedFile
from strata.runner.store import StateDB

STATUSES = ("pending", "active", "processed", "failed")
SCHEMA = """
CREATE TABLE IF NOT EXISTS file_ledger (
    pipeline TEXT NOT NULL, md5 TEXT NOT NULL, name TEXT NOT NULL, location TEXT NOT NULL,
    size INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT, run_id TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (pipeline, md5)
);
"""


@dataclass(frozen=True)
class LedgerEntry:
    pipeline: str
    md5: str
    name: str
    location: str
    size: int
    status: str
    reason: str | None
    run_id: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Claim:
    """A file a run now owns; `recovered` when a run that died had it active before."""

    file: LandedFile
    recovered: bool
    previous_run: str | None


class FileLedger(StateDB):
    """The ledger of one state folder (shared by the pipelines using it)."""

    schema = SCHEMA

    def entry(self, pipeline: str, md5: str) -> LedgerEntry | None:
        with self._connect() as con:
            row = con.execute(
                "SELECT * FROM file_ledger WHERE pipeline = ? AND md5 = ?", (pipeline, md5)
            ).fetchone()
        return None if row is None else LedgerEntry(*row)

    def entries(self, pipeline: str, status: str | None = None) -> list[LedgerEntry]:
        sql, args = "SELECT * FROM file_ledger WHERE pipeline = ?", [pipeline]
        if status is not None:
            sql, args = sql + " AND status = ?", [*args, status]
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY created_at, name", args).fetchall()
        return [LedgerEntry(*row) for row in rows]

    def register(self, pipeline: str, file: LandedFile, location: str) -> LedgerEntry:
        """Record a listed file as pending (a known file keeps its row and status)."""
        now = time.time()
        with self._connect() as con:
            con.execute(
                "INSERT INTO file_ledger VALUES (?, ?, ?, ?, ?, 'pending', NULL, NULL, ?, ?) "
                "ON CONFLICT(pipeline, md5) DO NOTHING",
                (pipeline, file.md5, file.name, location, file.size, now, now),
            )
        found = self.entry(pipeline, file.md5)
        assert found is not None
        return found

    def claim(self, pipeline: str, file: LandedFile, location: str, run_id: str) -> Claim | None:
        """Make `run_id` the owner of `file` (status active), or None when its content was
        already processed. A file another run left active is taken over (`recovered`)."""
        before = self.register(pipeline, file, location)
        if before.status == "processed":
            return None
        with self._connect() as con:
            con.execute(
                "UPDATE file_ledger SET status = 'active', run_id = ?, name = ?, location = ?, "
                "reason = NULL, updated_at = ? WHERE pipeline = ? AND md5 = ? "
                "AND status != 'processed'",
                (run_id, file.name, location, time.time(), pipeline, file.md5),
            )
        recovered = before.status == "active" and before.run_id not in (None, run_id)
        return Claim(file, recovered, before.run_id if recovered else None)

    def finish(
        self, pipeline: str, md5: str, status: str, reason: str | None = None, location: str = ""
    ) -> None:
        """Close a claimed file: processed, or failed with the reason (and where it went)."""
        if status not in ("processed", "failed"):
            raise ConfigError(f"a file ends processed or failed, not {status!r}")
        with self._connect() as con:
            cur = con.execute(
                "UPDATE file_ledger SET status = ?, reason = ?, "
                "location = CASE WHEN ? = '' THEN location ELSE ? END, updated_at = ? "
                "WHERE pipeline = ? AND md5 = ?",
                (status, reason, location, location, time.time(), pipeline, md5),
            )
        if cur.rowcount != 1:
            raise ConfigError(f"no file with MD5 {md5} in the ledger of {pipeline}")

    def abandoned(self, pipeline: str, run_id: str) -> list[LedgerEntry]:
        """Files other runs left active: the last run failed while ingesting them."""
        return [e for e in self.entries(pipeline, "active") if e.run_id != run_id]
