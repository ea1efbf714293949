"""MD5s of landed files, remembered per version, so a file is read to hash it only once.

A landing area is listed on every run; hashing every file in it each time costs a full read
of everything that ever landed (weather_sales keeps its raw zone). The listing itself tells
when a file may have changed — its S3 ETag, or a local file's size and modification time in
nanoseconds — so the digest is kept under (location, size, version) and recomputed only when
one of them changes. The ETag is used as a version, never as the MD5: with SSE-KMS, or for a
multipart upload, it is not one. Locally the version is the nanosecond mtime: on a filesystem
with coarse timestamps (FAT: 2 s), a file rewritten with the same size within one tick would
keep its old digest — keep landing folders on ext4/xfs/APFS-class filesystems.
"""

from __future__ import annotations

import time

from strata.runner.store import StateDB

SCHEMA = """
CREATE TABLE IF NOT EXISTS file_digests (
    location TEXT PRIMARY KEY, size INTEGER NOT NULL, version TEXT NOT NULL,
    md5 TEXT NOT NULL, hashed_at REAL NOT NULL
);
"""


class DigestCache(StateDB):
    """The remembered digests, in the state database."""

    schema = SCHEMA

    def get(self, location: str, size: int, version: str) -> str | None:
        with self._connect() as con:
            row = con.execute(
                "SELECT md5 FROM file_digests WHERE location = ? AND size = ? AND version = ?",
                (location, size, version),
            ).fetchone()
        return None if row is None else str(row[0])

    def put(self, location: str, size: int, version: str, md5: str) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO file_digests VALUES (?, ?, ?, ?, ?) ON CONFLICT(location) DO UPDATE "
                "SET size = excluded.size, version = excluded.version, md5 = excluded.md5, "
                "hashed_at = excluded.hashed_at",
                (location, size, version, md5, time.time()),
            )
