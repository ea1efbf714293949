"""Silver and gold tables: Delta Lake through delta-rs.

Every write is one atomic commit. A watermark can ride along in the same commit as a Delta
application transaction (`app_id` → version), so data and checkpoint can never disagree.
Schema evolution is additive: new columns are merged in, none are ever dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from strata.errors import StorageError
from strata.lake.storage import Lake


@dataclass(frozen=True)
class Watermark:
    """A checkpoint that commits with the data it covers."""

    app_id: str
    version: int


def _commit(watermarks: Sequence[Watermark], metadata: dict[str, Any] | None) -> CommitProperties:
    txns = [Transaction(w.app_id, w.version) for w in watermarks] or None
    return CommitProperties(custom_metadata=metadata, app_transactions=txns)


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


class DeltaTableIO:
    """Read and write one Delta table of the lake."""

    def __init__(self, lake: Lake, relative: str) -> None:
        self.lake = lake
        self.relative = relative
        self.uri = lake.table_uri(relative)

    def _table(self) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri, storage_options=self.lake.storage_options)
        except TableNotFoundError:
            return None
        except (DeltaError, OSError) as exc:
            raise StorageError(f"cannot open Delta table {self.uri}: {exc}") from exc

    def exists(self) -> bool:
        return self._table() is not None

    def version(self) -> int | None:
        table = self._table()
        return None if table is None else table.version()

    def dataset(self, version: int | None = None) -> ds.Dataset | None:
        """The current snapshot as an Arrow dataset (only the files of that version)."""
        table = self._table()
        if table is None:
            return None
        if version is not None:
            table.load_as_version(version)
        return table.to_pyarrow_dataset()

    def read(self, version: int | None = None) -> pa.Table:
        dataset = self.dataset(version)
        if dataset is None:
            raise StorageError(f"Delta table {self.uri} does not exist")
        return dataset.to_table()

    def watermark(self, app_id: str) -> int | None:
        table = self._table()
        return None if table is None else table.transaction_version(app_id)

    def _write(self, data: pa.Table, mode: str, **kwargs: Any) -> None:
        try:
            write_deltalake(  # type: ignore[call-overload]
                self.uri,
                data,
                mode=mode,
                schema_mode="merge",
                storage_options=self.lake.storage_options,
                **kwargs,
            )
        except Exception as exc:  # delta-rs raises bare Exceptions for cast errors
            raise StorageError(f"cannot write Delta table {self.uri}: {exc}") from exc

    def append(
        self,
        data: pa.Table,
        partition_by: list[str] | None = None,
        watermarks: Sequence[Watermark] = (),
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._write(
            data,
            "append",
            partition_by=partition_by or None,
            commit_properties=_commit(watermarks, metadata),
        )

    def overwrite(
        self,
        data: pa.Table,
        partition_by: list[str] | None = None,
        watermarks: Sequence[Watermark] = (),
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Replace the whole table in one commit (old files stay for time travel)."""
        self._write(
            data,
            "overwrite",
            partition_by=partition_by or None,
            commit_properties=_commit(watermarks, metadata),
        )

    def replace_partitions(
        self,
        data: pa.Table,
        partition_by: list[str],
        watermarks: Sequence[Watermark] = (),
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Overwrite only the partitions present in `data`, in one commit."""
        if not self.exists() or data.num_rows == 0:
            # An empty batch replaces nothing, but its watermarks must still commit.
            self.append(data, partition_by, watermarks, metadata)
            return
        predicate = partition_predicate(data, partition_by)
        self._write(
            data,
            "overwrite",
            partition_by=partition_by,
            predicate=predicate,
            commit_properties=_commit(watermarks, metadata),
        )

    def merge(
        self,
        data: pa.Table,
        unique_key: list[str],
        partition_by: list[str] | None = None,
        watermarks: Sequence[Watermark] = (),
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, int]:
        """Upsert by `unique_key` in one commit; creates the table on first use."""
        table = self._table()
        if table is None or data.num_rows == 0:
            # delta-rs makes no commit for an empty merge; an empty append still carries the
            # watermarks, so a batch that was entirely quarantined is not re-read forever.
            self.append(data, partition_by, watermarks, metadata)
            return {"num_target_rows_inserted": data.num_rows, "num_target_rows_updated": 0}
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in unique_key)
        if partition_by and data.num_rows:
            # Prune the target scan to the partitions the batch touches.
            predicate += " AND (" + partition_predicate(data, partition_by, alias="t") + ")"
        try:
            result = (
                table.merge(
                    data,
                    predicate,
                    source_alias="s",
                    target_alias="t",
                    merge_schema=True,
                    commit_properties=_commit(watermarks, metadata),
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        except Exception as exc:  # delta-rs raises bare Exceptions for cast errors
            raise StorageError(f"cannot merge into Delta table {self.uri}: {exc}") from exc
        return {k: int(v) for k, v in result.items() if isinstance(v, int)}

    def delete_keys(self, keys: pa.Table, metadata: dict[str, Any] | None = None) -> int:
        """Delete the rows whose key (the columns of `keys`) appears in `keys`; one commit.

        Used when the newest version of a key fails a blocking rule: the key's current state is
        "rejected", exactly as a full rebuild would leave it.
        """
        table = self._table()
        if table is None or keys.num_rows == 0:
            return 0
        predicate = partition_predicate(keys, keys.column_names)
        try:
            result = table.delete(predicate, commit_properties=_commit((), metadata))
        except Exception as exc:
            raise StorageError(f"cannot delete from Delta table {self.uri}: {exc}") from exc
        return int(result.get("num_deleted_rows", 0))

    def vacuum(self, retention_hours: int) -> list[str]:
        """Delete files no longer referenced for longer than the retention."""
        table = self._table()
        if table is None:
            return []
        return table.vacuum(
            retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False
        )


def partition_predicate(data: pa.Table, partition_by: list[str], alias: str = "") -> str:
    """A delta-rs predicate matching exactly the partitions present in `data`."""
    prefix = f"{alias}." if alias else ""
    combos = data.select(partition_by).group_by(partition_by).aggregate([]).to_pylist()
    if len(partition_by) == 1:
        column = partition_by[0]
        values = ", ".join(_sql_literal(row[column]) for row in combos)
        return f"{prefix}{column} IN ({values})"
    clauses = (
        "(" + " AND ".join(f"{prefix}{c} = {_sql_literal(row[c])}" for c in partition_by) + ")"
        for row in combos
    )
    return " OR ".join(clauses)
