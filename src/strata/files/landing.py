"""A landing area: where files arrive, as a local folder or an S3 prefix.

Files are listed with their size and MD5 (hex), the hash S3 gives as the ETag of a single-part
upload, so a byte-identical file is recognised wherever it lands. Reading is streamed in
chunks; moving a file between prefixes (`sales_data/` → `sales_data_processed/`) is a rename
locally and copy + delete on S3.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs

from strata.errors import MissingDependency, StorageError
from strata.lake.storage import Lake

if TYPE_CHECKING:
    from strata.files.digests import DigestCache

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
    """Files under a root (a folder or `s3://bucket/prefix`), addressed by relative names.

    With `digests`, a file's MD5 is computed once per version of it (S3 ETag, local size and
    mtime) and remembered; without, every listing reads every file.
    """

    def __init__(
        self, uri: str, s3_endpoint_url: str | None = None, digests: DigestCache | None = None
    ) -> None:
        self.area = Lake(uri, s3_endpoint_url=s3_endpoint_url)
        self.uri = self.area.uri
        self.digests = digests
        self._client: Any = None

    def where(self, name: str) -> str:
        """The full location of `name`, for messages and ledgers."""
        return self.area.table_uri(name)

    def names(self, prefix: str) -> list[str]:
        """Every file name under `prefix`, recursively (S3 "folder" markers skipped)."""
        return sorted(self._listing(prefix))

    def files(self, prefix: str) -> list[LandedFile]:
        """Every file under `prefix` (recursively; S3 "folder" markers skipped), with its MD5."""
        listing = self._listing(prefix)
        return [
            LandedFile(name, size, self._md5(name, size, listing[name][1]))
            for name, (size, _) in sorted(listing.items())
        ]

    def same_content(self, name: str, local: Path) -> bool:
        """Whether `name` exists with the size and MD5 of the local file `local` (what the
        seed compared with the object's ETag and ContentLength)."""
        found = self._stat(name)
        if found is None or found[0] != local.stat().st_size:
            return False
        return self._md5(name, *found) == local_md5(local)

    def _listing(self, prefix: str) -> dict[str, tuple[int, str]]:
        """name → (size, version) of every file under `prefix`."""
        base = self.area.path(prefix)
        top = prefix.strip("/")
        if self.area.is_local:
            selector = pafs.FileSelector(base, allow_not_found=True, recursive=True)
            return {
                self._name(top, info.path[len(base) + 1 :]): (info.size, str(info.mtime_ns))
                for info in self.area.fs.get_file_info(selector)
                if info.type == pafs.FileType.File
            }
        bucket, _, key_prefix = base.partition("/")
        key_prefix = key_prefix.rstrip("/") + "/" if key_prefix else ""
        listing = {}
        try:
            pages = self._s3().get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=bucket, Prefix=key_prefix):
                for item in page.get("Contents", []):
                    relative = item["Key"][len(key_prefix) :]
                    if relative and not relative.endswith("/"):
                        listing[self._name(top, relative)] = (int(item["Size"]), item["ETag"])
        except MissingDependency:
            raise
        except Exception as exc:  # botocore errors: the listing failed
            raise StorageError(f"cannot list s3://{base}: {exc}") from exc
        return listing

    @staticmethod
    def _name(top: str, relative: str) -> str:
        return f"{top}/{relative}" if top else relative

    def _stat(self, name: str) -> tuple[int, str] | None:
        """(size, version) of `name`, None when it does not exist."""
        if self.area.is_local:
            info = self.area.fs.get_file_info(self.area.path(name))
            if info.type != pafs.FileType.File:
                return None
            return info.size, str(info.mtime_ns)
        bucket, _, key = self.area.path(name).partition("/")
        try:
            head = self._s3().head_object(Bucket=bucket, Key=key)
        except Exception as exc:  # botocore ClientError: 404 is "not there"
            if str(getattr(exc, "response", {}).get("Error", {}).get("Code")) in (
                "404",
                "NoSuchKey",
            ):
                return None
            raise StorageError(f"cannot look at {self.where(name)}: {exc}") from exc
        return int(head["ContentLength"]), str(head["ETag"])

    def _md5(self, name: str, size: int, version: str) -> str:
        location = self.where(name)
        known = self.digests.get(location, size, version) if self.digests else None
        if known is not None:
            return known
        md5 = self._digest(name)[1]
        if self.digests is not None:
            self.digests.put(location, size, version, md5)
        return md5

    def _s3(self) -> Any:
        if self._client is None:
            from strata.aws.clients import aws_client

            region = os.environ.get("AWS_REGION", self.area.region)
            self._client = aws_client("s3", endpoint_url=self.area.s3_endpoint_url, region=region)
        return self._client

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
