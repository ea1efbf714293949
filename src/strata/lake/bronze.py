"""Bronze: what arrived, as it arrived, one folder per load with a manifest.

A load is `bronze/<pipeline>/<entity>/load_id=<id>/` holding the data files and
`_manifest.json`. The manifest is written last, so a load without one never happened (a crash
mid-write leaves only garbage that readers ignore and retention removes). Identical content is
stored once: a content-hash marker points at the load that already holds it.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from strata.errors import StorageError
from strata.lake.storage import Lake

MANIFEST = "_manifest.json"
READERS = {
    "jsonl": lambda data: pajson.read_json(io.BytesIO(data)),
    "csv": lambda data: pacsv.read_csv(io.BytesIO(data)),
    "parquet": lambda data: pq.read_table(io.BytesIO(data)),
}


@dataclass
class BronzeFile:
    name: str
    sha256: str
    md5: str
    bytes: int
    rows: int


@dataclass
class Manifest:
    """What one load holds and where in the source it came from."""

    pipeline: str
    entity: str
    load_id: int
    run_id: str
    created_at: str
    format: str
    files: list[BronzeFile]
    rows: int
    schema: list[dict[str, str]]
    source_position: dict[str, Any] = field(default_factory=dict)
    reused: bool = False

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        data["files"] = [BronzeFile(**f) for f in data["files"]]
        return cls(**data)


def new_load_id() -> int:
    """A sortable, readable integer id: UTC time as YYYYMMDDHHMMSSmmm."""
    now = datetime.now(UTC)
    return int(now.strftime("%Y%m%d%H%M%S")) * 1000 + now.microsecond // 1000


def schema_of(table: pa.Table) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in table.schema]


class Bronze:
    """Append-only bronze area of one pipeline entity."""

    def __init__(self, lake: Lake, pipeline: str, entity: str) -> None:
        self.lake = lake
        self.pipeline = pipeline
        self.entity = entity
        self.prefix = f"bronze/{pipeline}/{entity}"

    def _load_dir(self, load_id: int) -> str:
        return f"{self.prefix}/load_id={load_id}"

    def _hash_marker(self, sha256: str) -> str:
        return f"{self.prefix}/_hashes/{sha256}"

    def write(
        self,
        name: str,
        data: bytes,
        *,
        fmt: str,
        run_id: str,
        source_position: dict[str, Any] | None = None,
    ) -> Manifest:
        """Store one file as a new load, unless byte-identical content is already stored."""
        sha = hashlib.sha256(data).hexdigest()
        existing = self._existing(sha)
        if existing is not None:
            existing.reused = True
            return existing
        table = READERS[fmt](data)
        load_id = self._fresh_load_id()
        meta = BronzeFile(name, sha, hashlib.md5(data).hexdigest(), len(data), table.num_rows)
        manifest = Manifest(
            pipeline=self.pipeline,
            entity=self.entity,
            load_id=load_id,
            run_id=run_id,
            created_at=datetime.now(UTC).isoformat(),
            format=fmt,
            files=[meta],
            rows=table.num_rows,
            schema=schema_of(table),
            source_position=source_position or {},
        )
        folder = self._load_dir(load_id)
        self.lake.write_bytes(f"{folder}/{name}", data)
        self.lake.write_bytes(f"{folder}/{MANIFEST}", manifest.to_json())
        self.lake.write_bytes(self._hash_marker(sha), str(load_id).encode())
        return manifest

    def _fresh_load_id(self) -> int:
        load_id = new_load_id()
        while self.lake.exists(self._load_dir(load_id)):
            time.sleep(0.001)
            load_id = new_load_id()
        return load_id

    def _existing(self, sha256: str) -> Manifest | None:
        marker = self._hash_marker(sha256)
        if not self.lake.exists(marker):
            return None
        load_id = int(self.lake.read_bytes(marker))
        return self.manifest(load_id)

    def manifest(self, load_id: int) -> Manifest | None:
        path = f"{self._load_dir(load_id)}/{MANIFEST}"
        if not self.lake.exists(path):
            return None
        return Manifest.from_json(self.lake.read_bytes(path))

    def loads(self, after: int | None = None) -> Iterator[Manifest]:
        """Committed loads in load order, optionally only those after a load id."""
        for folder in self.lake.list_dirs(self.prefix):
            if not folder.startswith("load_id="):
                continue
            load_id = int(folder.split("=", 1)[1])
            if after is not None and load_id <= after:
                continue
            manifest = self.manifest(load_id)
            if manifest is not None:
                yield manifest

    def read(self, manifest: Manifest) -> pa.Table:
        """The data of one load as Arrow."""
        folder = self._load_dir(manifest.load_id)
        tables = [
            READERS[manifest.format](self.lake.read_bytes(f"{folder}/{f.name}"))
            for f in manifest.files
        ]
        try:
            return pa.concat_tables(tables, promote_options="permissive")
        except pa.ArrowInvalid as exc:
            raise StorageError(f"load {manifest.load_id} of {self.prefix}: {exc}") from exc

    def delete(self, manifest: Manifest) -> None:
        """Remove a load (retention): the manifest goes first so readers never see half a load."""
        folder = self._load_dir(manifest.load_id)
        self.lake.fs.delete_file(self.lake.path(f"{folder}/{MANIFEST}"))
        for f in manifest.files:
            marker = self.lake.path(self._hash_marker(f.sha256))
            if self.lake.exists(self._hash_marker(f.sha256)):
                self.lake.fs.delete_file(marker)
        self.lake.delete_dir(folder)
