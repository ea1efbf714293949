"""A landing area: where files arrive, as a local folder or an S3 prefix.

Files are listed with their size and MD5 (hex), the hash S3 gives as the ETag of a single-part
upload, so a byte-identical file is recognised wherever it lands. Reading is streamed in
chunks; moving a file between prefixes (`sales_data/` → `sales_data_processed/`) is a rename
locally and copy + delete on S3.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from strata.errors import StorageError
from strata.lake.storage import Lake

CHUNK = 1 << 20


def local_md5(path: Path) -> str:
    """The MD5 of a local file (an S3 ETag for a single-part upload), read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class LandedFile:
    """One file in the landing area; `name` is its path under the landing root."""

    name: str
    size: int
    md5: str

    @property
    def base_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]


class Landing:
    """Files under a root (a folder or `s3://bucket/prefix`), addressed by relative names."""

    def __init__(self, uri: str, s3_endpoint_url: str | None = None) -> None:
        self.area = Lake(uri, s3_endpoint_url=s3_endpoint_url)
        self.uri = self.area.uri

    def where(self, name: str) -> str:
        """The full location of `name`, for messages and ledgers."""
        return self.area.table_uri(name)

    def names(self, prefix: str) -> list[str]:
        """Every file name under `prefix`, recursively (S3 "folder" markers skipped)."""
        base = prefix.strip("/")
        return [
            f"{base}/{relative}" if base else relative
            for relative in self.area.list_files(prefix, recursive=True)
            if not relative.endswith("/")
        ]

    def files(self, prefix: str) -> list[LandedFile]:
        """Every file under `prefix` (recursively; S3 "folder" markers skipped), with its MD5."""
        return [LandedFile(name, *self._digest(name)) for name in self.names(prefix)]

    def same_content(self, name: str, local: Path) -> bool:
        """Whether `name` exists with the size and MD5 of the local file `local` (what the
        seed compared with the object's ETag and ContentLength)."""
        info = self.area.fs.get_file_info(self.area.path(name))
        if info.type != pafs.FileType.File or info.size != local.stat().st_size:
            return False
        return self._digest(name)[1] == local_md5(local)

    def upload(self, name: str, local: Path) -> None:
        """Copy the local file `local` to `name`, streamed in chunks."""
        target = self.area.path(name)
        try:
            if self.area.is_local:
                self.area.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            with local.open("rb") as source, self.area.fs.open_output_stream(target) as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
        except OSError as exc:
            raise StorageError(f"cannot upload {local} to {self.where(name)}: {exc}") from exc

    def _digest(self, name: str) -> tuple[int, str]:
        digest, size = hashlib.md5(usedforsecurity=False), 0
        for chunk in self.chunks(name):
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()

    def chunks(self, name: str, size: int = CHUNK) -> Iterator[bytes]:
        """The bytes of `name`, streamed."""
        try:
            with self.area.fs.open_input_stream(self.area.path(name)) as source:
                while chunk := source.read(size):
                    yield bytes(chunk)
        except (OSError, FileNotFoundError) as exc:
            raise StorageError(f"cannot read {self.where(name)}: {exc}") from exc

    def read(self, name: str) -> bytes:
        return b"".join(self.chunks(name))

    def write(self, name: str, data: bytes) -> None:
        self.area.write_bytes(name, data)

    def exists(self, name: str) -> bool:
        return self.area.exists(name)

    @staticmethod
    def moved_name(name: str, to_prefix: str, from_prefix: str | None = None) -> str:
        """The name `move` gives `name`: its path below `from_prefix` (default: below its
        first folder) under `to_prefix`."""
        base = (from_prefix or "").strip("/")
        if base and name.startswith(base + "/"):
            tail = name[len(base) + 1 :]
        else:
            tail = name.split("/", 1)[1] if "/" in name else name
        return f"{to_prefix.strip('/')}/{tail}"

    def move(self, name: str, to_prefix: str, from_prefix: str | None = None) -> str:
        """Move `name` to `moved_name(name, to_prefix, from_prefix)` and return that. An
        existing file of that name is replaced (a rerun moves the same file)."""
        target = self.moved_name(name, to_prefix, from_prefix)
        source_path, target_path = self.area.path(name), self.area.path(target)
        try:
            if self.area.is_local:
                self.area.fs.create_dir(target_path.rsplit("/", 1)[0], recursive=True)
            if self.area.fs.get_file_info(target_path).type == pafs.FileType.File:
                self.area.fs.delete_file(target_path)
            self.area.fs.move(source_path, target_path)
        except OSError as exc:
            raise StorageError(f"cannot move {self.where(name)} to {to_prefix}: {exc}") from exc
        return target
