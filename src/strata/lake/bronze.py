"""Bronze: what arrived, as it arrived, one folder per load with a manifest.

A load is `bronze/<pipeline>/<entity>/load_id=<id>/` holding the data files and
`_manifest.json`. The manifest is written last, so a load without one never happened (a crash
mid-write leaves only garbage that readers ignore and retention removes). Identical content is
stored once: a content-hash marker points at the load that already holds it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
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
    arrow_schema: str = ""  # base64 Arrow IPC schema: exact types for CSV and Parquet loads
    content_sha256: str = ""  # the content-hash marker's name (set on every new load)

    def schema_arrow(self) -> pa.Schema | None:
        if not self.arrow_schema:
            return None
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(self.arrow_schema)))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        data = json.loads(raw)
        data["files"] = [BronzeFile(**f) for f in data["files"]]
        return cls(**data)


_last_load_id = 0


def new_load_id() -> int:
    """A sortable, readable integer id: UTC time as YYYYMMDDHHMMSSmmm.

    Strictly increasing within a process (two loads in one millisecond get consecutive ids), so
    a load written after another one is never at or below a watermark that consumed it.
    """
    global _last_load_id
    now = datetime.now(UTC)
    load_id = int(now.strftime("%Y%m%d%H%M%S")) * 1000 + now.microsecond // 1000
    _last_load_id = max(load_id, _last_load_id + 1)
    return _last_load_id


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
        self.lake.write_bytes(f"{self._load_dir(load_id)}/{name}", data)
        return self._commit(load_id, fmt, [meta], table.schema, run_id, source_position, sha)

    def write_batches(
        self,
        name: str,
        batches: pa.RecordBatchReader | Iterable[pa.RecordBatch],
        *,
        schema: pa.Schema | None = None,
        fmt: str = "parquet",
        run_id: str,
        source_position: dict[str, Any] | None = None,
        rows_per_file: int = 1_000_000,
    ) -> Manifest | None:
        """Stream record batches into a new load (Parquet or CSV files), memory-bounded.

        Files roll over every `rows_per_file` rows (`<name>-00000.parquet`, …). The content
        hash covers every file, so a byte-identical extract is stored once. An empty stream
        writes nothing and returns None.
        """
        if fmt not in _BATCH_WRITERS:
            raise StorageError(f"bronze format {fmt!r} cannot be streamed (parquet or csv)")
        if isinstance(batches, pa.RecordBatchReader):
            schema = schema or batches.schema
        if schema is None:
            raise StorageError(f"{self.prefix}: a schema is needed to write record batches")
        load_id = self._fresh_load_id()
        folder = self._load_dir(load_id)
        files = _write_files(self.lake, folder, name, fmt, schema, batches, rows_per_file)
        if not files:
            self.lake.delete_dir(folder)
            return None
        digest = hashlib.sha256("".join(f.sha256 for f in files).encode()).hexdigest()
        existing = self._existing(digest)
        if existing is not None:
            self.lake.delete_dir(folder)
            existing.reused = True
            return existing
        arrow = base64.b64encode(schema.serialize().to_pybytes()).decode()
        return self._commit(load_id, fmt, files, schema, run_id, source_position, digest, arrow)

    def _commit(
        self,
        load_id: int,
        fmt: str,
        files: list[BronzeFile],
        schema: pa.Schema,
        run_id: str,
        source_position: dict[str, Any] | None,
        digest: str,
        arrow_schema: str = "",
    ) -> Manifest:
        """Write the manifest (the load exists from here on), then the content-hash marker."""
        manifest = Manifest(
            pipeline=self.pipeline,
            entity=self.entity,
            load_id=load_id,
            run_id=run_id,
            created_at=datetime.now(UTC).isoformat(),
            format=fmt,
            files=files,
            rows=sum(f.rows for f in files),
            schema=[{"name": f.name, "type": str(f.type)} for f in schema],
            source_position=source_position or {},
            arrow_schema=arrow_schema,
            content_sha256=digest,
        )
        self.lake.write_bytes(f"{self._load_dir(load_id)}/{MANIFEST}", manifest.to_json())
        self.lake.write_bytes(self._hash_marker(digest), str(load_id).encode())
        return manifest

    def dataset(self, manifests: list[Manifest], load_column: str = "_load_id") -> ds.Dataset:
        """Parquet/CSV loads as one lazily-read Arrow dataset with a `_load_id` column.

        Nothing is read until a query scans it, so memory does not grow with the load size.
        Loads with different schemas are unified (new columns are NULL in older loads); loads
        in different formats (the pipeline's `bronze_format` changed) become a union.
        """
        schemas = [m.schema_arrow() for m in manifests]
        if not manifests or any(s is None for s in schemas):
            raise StorageError(f"{self.prefix}: loads cannot be read as one dataset")
        unified = pa.unify_schemas(
            [s for s in schemas if s is not None], promote_options="permissive"
        ).append(pa.field(load_column, pa.int64()))
        formats = sorted({m.format for m in manifests})
        parts = [
            self._files_dataset([m for m in manifests if m.format == fmt], fmt, unified)
            for fmt in formats
        ]
        return parts[0] if len(parts) == 1 else ds.dataset(parts, schema=unified)

    def _files_dataset(self, manifests: list[Manifest], fmt: str, schema: pa.Schema) -> ds.Dataset:
        load_column = schema.names[-1]
        paths, partitions = [], []
        for manifest in manifests:
            for f in manifest.files:
                paths.append(self.lake.path(f"{self._load_dir(manifest.load_id)}/{f.name}"))
                partitions.append(ds.field(load_column) == pa.scalar(manifest.load_id, pa.int64()))
        return ds.FileSystemDataset.from_paths(
            paths,
            schema=schema,
            format=_file_format(fmt, schema.remove(len(schema) - 1)),
            filesystem=self.lake.fs,
            partitions=partitions,
        )

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

    def latest(self) -> Manifest | None:
        """The newest committed load, reading one manifest (not all of them)."""
        for folder in reversed(self.lake.list_dirs(self.prefix)):
            if folder.startswith("load_id="):
                manifest = self.manifest(int(folder.split("=", 1)[1]))
                if manifest is not None:
                    return manifest
        return None

    def load_ids(self) -> list[int]:
        """The ids of the load folders, oldest first, from one listing (no manifest read: a
        folder whose manifest is missing was never committed)."""
        return [
            int(folder.split("=", 1)[1])
            for folder in self.lake.list_dirs(self.prefix)
            if folder.startswith("load_id=")
        ]

    def loads(self, after: int | None = None) -> Iterator[Manifest]:
        """Committed loads in load order, optionally only those after a load id."""
        for load_id in self.load_ids():
            if after is not None and load_id <= after:
                continue
            manifest = self.manifest(load_id)
            if manifest is not None:
                yield manifest

    def read(self, manifest: Manifest) -> pa.Table:
        """The data of one load as Arrow."""
        if manifest.format in _BATCH_WRITERS and manifest.arrow_schema:
            return self.dataset([manifest]).to_table().drop_columns(["_load_id"])
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
        # Loads written before content_sha256 existed named their marker after their one file.
        hashes = [manifest.content_sha256] if manifest.content_sha256 else []
        for sha in hashes or [f.sha256 for f in manifest.files]:
            if self.lake.exists(self._hash_marker(sha)):
                self.lake.fs.delete_file(self.lake.path(self._hash_marker(sha)))
        self.lake.delete_dir(folder)


def _digest(lake: Lake, path: str) -> tuple[str, str, int]:
    """sha256, md5 and size of a written file, read back in chunks (a Python-level hashing
    wrapper around the writer's stream made pyarrow buffer the whole file in memory)."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with lake.fs.open_input_stream(path) as src:
        while chunk := src.read(8 * 1024 * 1024):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), md5.hexdigest(), size


def _parquet_writer(sink: pa.NativeFile, schema: pa.Schema) -> Any:
    return pq.ParquetWriter(sink, schema, compression="zstd")


def _csv_writer(sink: pa.NativeFile, schema: pa.Schema) -> Any:
    return pacsv.CSVWriter(sink, schema)


_BATCH_WRITERS = {"parquet": _parquet_writer, "csv": _csv_writer}


def _file_format(fmt: str, schema: pa.Schema) -> ds.FileFormat:
    if fmt == "parquet":
        return ds.ParquetFileFormat()
    types = {f.name: f.type for f in schema}
    convert = pacsv.ConvertOptions(
        column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
    )
    # An all-NULL row of a one-column table is an empty line: keep it.
    parse = pacsv.ParseOptions(ignore_empty_lines=False)
    return ds.CsvFileFormat(parse_options=parse, convert_options=convert)


def _write_files(
    lake: Lake,
    folder: str,
    name: str,
    fmt: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    rows_per_file: int,
) -> list[BronzeFile]:
    """Write the stream as numbered files of at most `rows_per_file` rows each."""
    if lake.is_local:
        lake.fs.create_dir(lake.path(folder), recursive=True)
    files: list[BronzeFile] = []
    current: tuple[str, Any, Any] | None = None
    rows = 0

    def finish() -> None:
        assert current is not None
        file_name, writer, out = current
        writer.close()
        out.close()
        sha, md5, size = _digest(lake, lake.path(f"{folder}/{file_name}"))
        files.append(BronzeFile(file_name, sha, md5, size, rows))

    for batch in batches:
        if batch.num_rows == 0:
            continue
        if current is not None and rows >= rows_per_file:
            finish()
            current, rows = None, 0
        if current is None:
            file_name = f"{name}-{len(files):05d}.{fmt}"
            if lake.is_local and "/" in name:  # a name may lay files out in sub-folders
                lake.fs.create_dir(lake.path(f"{folder}/{file_name}").rsplit("/", 1)[0])
            out = lake.fs.open_output_stream(lake.path(f"{folder}/{file_name}"))
            current = (file_name, _BATCH_WRITERS[fmt](out, schema), out)
        current[1].write_batch(batch.cast(schema) if batch.schema != schema else batch)
        rows += batch.num_rows
    if current is not None:
        finish()
    return files
