"""The state database kept in the lake, for runtimes without a lasting disk.

A Lambda function, a Glue job or a container starts with an empty disk, so the run history,
leases, file ledger and checkpoints of `<state_dir>/state.db` would be lost after every task.
With `state_in_lake = true`, `lake_state(settings, pipeline)` copies the pipeline's state
database, `<lake>/_strata/state/<pipeline>.db`, into the state folder before the task and
writes it back after it — also when the task failed, so the attempt is on record. One object
per pipeline: a task only touches its own pipeline's rows, and executions of different
pipelines never conflict. The write is conditional: on S3 it names the version it read (`If-Match`
its ETag, or `If-None-Match: *` for the first one), so a second execution that changed the
object in between is refused instead of overwritten: `StateConflict`, naming both, and the
task fails (Step Functions retries or fails it; the data steps themselves are idempotent).

On a local lake the copy has no such check (one machine: the SQLite lease already guards it).
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from strata.config import Settings
from strata.errors import StorageError, TransientError

log = logging.getLogger("strata.runner.lake_state")

STATE_PREFIX = "_strata/state/"


def state_object(pipeline: str) -> str:
    """The lake key of a pipeline's state database."""
    return f"{STATE_PREFIX}{pipeline}.db"


class StateConflict(TransientError):
    """Another task wrote the lake's state database while this one ran."""


@contextmanager
def lake_state(settings: Settings, pipeline: str) -> Iterator[None]:
    """The pipeline's state database from the lake in `settings.state_path` for the block."""
    if not settings.state_in_lake:
        yield
        return
    store = _store(settings, pipeline)
    local = settings.state_path / "state.db"
    settings.state_path.mkdir(parents=True, exist_ok=True)
    for leftover in (local, *_sidecars(local)):
        leftover.unlink(missing_ok=True)
    version = store.download(local)
    try:
        yield
    finally:
        _checkpoint(local)
        if local.exists():
            store.upload(local, version)


@contextmanager
def lake_state_copies(settings: Settings, pipeline: str | None = None) -> Iterator[list[Path]]:
    """Read-only copies of the state databases in the lake (one pipeline's, or every
    pipeline's), each `state.db` in a folder of its own, for `strata runs`; nothing is
    written back and the local state folder is not touched."""
    names = [pipeline] if pipeline else _pipelines_in_lake(settings)
    with tempfile.TemporaryDirectory(prefix="strata-lake-state-") as scratch:
        folders = []
        for name in names:
            folder = Path(scratch) / name
            folder.mkdir()
            if _store(settings, name).download(folder / "state.db") is not None:
                folders.append(folder)
        yield folders


def _store(settings: Settings, pipeline: str) -> _S3State | _LocalState:
    key = state_object(pipeline)
    s3 = urlparse(settings.lake).scheme == "s3"
    return _S3State(settings, key) if s3 else _LocalState(settings, key)


def _pipelines_in_lake(settings: Settings) -> list[str]:
    from strata.session import open_lake

    names = open_lake(settings).list_files(STATE_PREFIX)
    return sorted(n[: -len(".db")] for n in names if n.endswith(".db") and "/" not in n)


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


def _checkpoint(path: Path) -> None:
    """Fold SQLite's write-ahead log into the database file, so one file holds everything."""
    if not path.exists():
        return
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


class _LocalState:
    def __init__(self, settings: Settings, key: str) -> None:
        from strata.session import open_lake

        self.lake = open_lake(settings)
        self.key = key

    def download(self, local: Path) -> str | None:
        if not self.lake.exists(self.key):
            return None
        local.write_bytes(self.lake.read_bytes(self.key))
        return "present"

    def upload(self, local: Path, version: str | None) -> None:
        self.lake.write_bytes(self.key, local.read_bytes())


class _S3State:
    def __init__(self, settings: Settings, key: str) -> None:
        from strata.aws.clients import client_for

        parsed = urlparse(settings.lake)
        self.bucket = parsed.netloc
        self.key = "/".join(p for p in (parsed.path.strip("/"), key) if p)
        self.where = f"s3://{self.bucket}/{self.key}"
        self.client = client_for("s3", settings)

    def download(self, local: Path) -> str | None:
        """The object into `local`; its ETag, or None when there is none yet."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key)
            local.write_bytes(answer["Body"].read())
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise StorageError(f"cannot read the state database {self.where}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot read the state database {self.where}: {exc}") from exc
        return str(answer["ETag"])

    def upload(self, local: Path, version: str | None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        condition = {"IfMatch": version} if version else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=local.read_bytes(), **condition
            )
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise StateConflict(
                    f"the state database {self.where} changed while this task ran (another "
                    "execution of the same pipeline); this task's state changes were not saved"
                ) from exc
            raise StorageError(f"cannot write the state database {self.where}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot write the state database {self.where}: {exc}") from exc


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
