"""One storage interface over a local folder and S3 (or any S3-compatible endpoint).

Bronze files, manifests and reports go through `pyarrow.fs`; Delta tables get the matching
`storage_options` for delta-rs, so the same relative path works on both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from strata.errors import StorageError


@dataclass
class Lake:
    """A lake root: a local folder (`./lake`) or `s3://bucket/prefix`."""

    uri: str
    s3_endpoint_url: str | None = None
    region: str = "eu-central-1"
    fs: pafs.FileSystem = field(init=False, repr=False)
    root: str = field(init=False)

    def __post_init__(self) -> None:
        parsed = urlparse(self.uri)
        endpoint = (
            self.s3_endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        self.s3_endpoint_url = endpoint
        if parsed.scheme == "s3":
            self.fs = pafs.S3FileSystem(
                endpoint_override=endpoint,
                region=os.environ.get("AWS_REGION", self.region),
                allow_bucket_creation=False,
            )
            self.root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
        elif parsed.scheme in ("", "file"):
            local = Path(parsed.path if parsed.scheme else self.uri).expanduser().resolve()
            local.mkdir(parents=True, exist_ok=True)
            self.fs = pafs.LocalFileSystem()
            self.root = local.as_posix()
            self.uri = self.root
        else:
            raise StorageError(
                f"unsupported lake URI {self.uri!r}: use a folder or s3://bucket/prefix"
            )

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, *parts: str) -> str:
        """The filesystem path (for `self.fs`) of a location relative to the lake root."""
        return "/".join([self.root, *(p.strip("/") for p in parts if p)])

    def table_uri(self, *parts: str) -> str:
        """The URI delta-rs needs for a location relative to the lake root."""
        location = self.path(*parts)
        return location if self.is_local else f"s3://{location}"

    @property
    def storage_options(self) -> dict[str, str]:
        """delta-rs object-store options (credentials come from the usual AWS variables)."""
        if self.is_local:
            return {}
        options = {"AWS_REGION": os.environ.get("AWS_REGION", self.region)}
        if self.s3_endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.s3_endpoint_url
            if self.s3_endpoint_url.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        # S3 conditional PUT gives delta-rs safe concurrent commits with no DynamoDB lock.
        options["conditional_put"] = "etag"
        return options

    def write_bytes(self, relative: str, data: bytes) -> None:
        target = self.path(relative)
        try:
            if self.is_local:
                self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            with self.fs.open_output_stream(target) as out:
                out.write(data)
        except OSError as exc:
            raise StorageError(f"cannot write {self.table_uri(relative)}: {exc}") from exc

    def read_bytes(self, relative: str) -> bytes:
        try:
            with self.fs.open_input_stream(self.path(relative)) as src:
                return bytes(src.read())
        except (OSError, FileNotFoundError) as exc:
            raise StorageError(f"cannot read {self.table_uri(relative)}: {exc}") from exc

    def exists(self, relative: str) -> bool:
        return self.fs.get_file_info(self.path(relative)).type != pafs.FileType.NotFound

    def list_dirs(self, relative: str) -> list[str]:
        """Names of the folders directly under `relative` (empty if it does not exist)."""
        selector = pafs.FileSelector(self.path(relative), allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def list_files(self, relative: str, recursive: bool = False) -> list[str]:
        """Paths (relative to `relative`) of the files under it."""
        base = self.path(relative)
        selector = pafs.FileSelector(base, allow_not_found=True, recursive=recursive)
        infos = self.fs.get_file_info(selector)
        return sorted(i.path[len(base) + 1 :] for i in infos if i.type == pafs.FileType.File)

    def delete_dir(self, relative: str) -> None:
        target = self.path(relative)
        if self.fs.get_file_info(target).type != pafs.FileType.NotFound:
            self.fs.delete_dir(target)
