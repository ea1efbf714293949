"""Tables of a lake, discovered from its folders.

Layout: `bronze/<pipeline>/<entity>/load_id=…`, `silver|gold|quarantine/<pipeline>/<table>`
(Delta tables). Every table is addressable as `<layer>.<pipeline>.<table>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from strata.errors import StorageError
from strata.lake.storage import Lake

if TYPE_CHECKING:
    # pyarrow.dataset imports pandas, deltalake its own stack: both load on first use.
    import pyarrow.dataset as ds

    from strata.lake.bronze import Bronze
    from strata.lake.delta import DeltaTableIO

LAYERS = ("bronze", "silver", "gold", "quarantine")


@dataclass(frozen=True, order=True)
class TableRef:
    """A table of the lake: `layer.pipeline.name`."""

    layer: str
    pipeline: str
    name: str

    def __str__(self) -> str:
        return f"{self.layer}.{self.pipeline}.{self.name}"

    @property
    def relation(self) -> str:
        """The name the table is registered under in an engine session."""
        return f"{self.layer}__{self.pipeline}__{self.name}"

    @property
    def path(self) -> str:
        return f"{self.layer}/{self.pipeline}/{self.name}"


class LakeCatalog:
    """Finds and opens the tables of one lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake

    def tables(self, pipeline: str | None = None) -> list[TableRef]:
        found: list[TableRef] = []
        for layer in LAYERS:
            for owner in self.lake.list_dirs(layer):
                if pipeline and owner != pipeline:
                    continue
                found.extend(
                    TableRef(layer, owner, n) for n in self.lake.list_dirs(f"{layer}/{owner}")
                )
        return sorted(found)

    def delta(self, ref: TableRef) -> DeltaTableIO:
        from strata.lake.delta import DeltaTableIO

        return DeltaTableIO(self.lake, ref.path)

    def bronze(self, ref: TableRef) -> Bronze:
        from strata.lake.bronze import Bronze

        return Bronze(self.lake, ref.pipeline, ref.name)

    def open(self, ref: TableRef, bronze_after: int | None = None) -> ds.Dataset | pa.Table:
        """The table's current data: a Delta snapshot, or the bronze loads concatenated."""
        if ref.layer == "bronze":
            return self.read_bronze(ref, bronze_after).data
        dataset = self.delta(ref).dataset()
        if dataset is None:
            raise StorageError(f"table {ref} does not exist in {self.lake.uri}")
        return dataset

    def read_bronze(self, ref: TableRef, after: int | None = None) -> BronzeInput:
        """Bronze loads after a load id with a `_load_id` column, and the ids they came from.

        Parquet and CSV loads stay on disk as one lazily-scanned dataset; JSON loads (small API
        responses) are read into memory.
        """
        bronze = self.bronze(ref)
        manifests = list(bronze.loads(after))
        ids = [m.load_id for m in manifests]
        rows = sum(m.rows for m in manifests)
        if manifests and all(m.arrow_schema for m in manifests):
            return BronzeInput(bronze.dataset(manifests), ids, rows)
        tables = []
        for manifest in manifests:
            table = bronze.read(manifest)
            column = pa.array([manifest.load_id] * table.num_rows, pa.int64())
            tables.append(table.append_column("_load_id", column))
        if not tables:
            return BronzeInput(pa.table({"_load_id": pa.array([], pa.int64())}), ids, 0)
        return BronzeInput(pa.concat_tables(tables, promote_options="permissive"), ids, rows)


@dataclass(frozen=True)
class BronzeInput:
    """Bronze loads ready to register with an engine."""

    data: pa.Table | ds.Dataset
    load_ids: list[int]
    rows: int
