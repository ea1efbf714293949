"""Silver and gold tables: Delta Lake through delta-rs.

Every write is one atomic commit. A watermark can ride along in the same commit as a Delta
application transaction (`app_id` → version), so data and checkpoint can never disagree.
Schema evolution is additive: new columns are merged in, none are ever dropped.

Writes take an Arrow table or a record batch reader. A reader is written as it is read (delta-rs
buffers about one data file per partition being written), so a model's output never has to fit
in memory; MERGE is the exception (see `DeltaTableIO.merge`).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError
from deltalake.schema import Schema as DeltaSchema
from deltalake.transaction import AddAction, create_table_with_add_actions

from strata.errors import StorageError
from strata.lake.storage import Lake

# delta-rs spreads a partitioned write over one writer task per CPU by hashing the partition
# values. When a stream's partitions all hash to one writer, the other writer's empty queue lifts
# the backpressure on the input, and the whole stream piles up in memory ahead of the busy writer
# (measured: +0.8-1.2 GB for 10M rows). One writer keeps the input flowing at the speed of the
# writes. Read once per process by delta-rs; set the variable yourself to override.
os.environ.setdefault("DELTARS_MAX_CONCURRENT_WRITERS", "1")

ROW_GROUP_ROWS = 262_144
"""Rows per Parquet row group of the data files written (the writer holds one per partition)."""

Rows: TypeAlias = pa.Table | pa.RecordBatchReader
"""What a write takes: a table, or a stream of record batches read once."""


@dataclass(frozen=True)
class Watermark:
    """A checkpoint that commits with the data it covers."""

    app_id: str
    version: int


def _writer_properties() -> WriterProperties:
    # Row groups smaller than the default 1Mi rows bound what the writer buffers per partition
    # and what a reader decodes at once; SNAPPY is delta-rs's default codec.
    return WriterProperties(max_row_group_size=ROW_GROUP_ROWS, compression="SNAPPY")


def _commit(watermarks: Sequence[Watermark], metadata: dict[str, Any] | None) -> CommitProperties:
    txns = [Transaction(w.app_id, w.version) for w in watermarks] or None
    return CommitProperties(custom_metadata=metadata, app_transactions=txns)


def _peek(data: Rows) -> tuple[Rows, bool]:
    """`data` ready to write, and whether it holds no row (a reader's first batch is read)."""
    if isinstance(data, pa.Table):
        return data, data.num_rows == 0
    for batch in data:
        if batch.num_rows:
            rest = itertools.chain([batch], data)
            return pa.RecordBatchReader.from_batches(data.schema, rest), False
    return data.schema.empty_table(), True


def _partitions(data: Rows, partition_by: list[str], partitions: pa.Table | None) -> pa.Table:
    """The distinct partition values of `data`: given, or computed from a table."""
    if partitions is not None:
        return partitions
    if not isinstance(data, pa.Table):
        raise TypeError("writing a record batch reader by partition needs its `partitions`")
    return data.select(partition_by).group_by(partition_by).aggregate([])


DELETE_FLAG = "_strata_delete"
"""The MERGE source column that marks a row as a key to delete (never written to the table)."""


class _Counted:
    """Rows to write, counting the rows as they are read."""

    def __init__(self, data: Rows) -> None:
        self.data = data
        self.count = data.num_rows if isinstance(data, pa.Table) else 0

    def rows(self) -> Rows:
        if isinstance(self.data, pa.Table):
            return self.data
        reader = self.data

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                self.count += batch.num_rows
                yield batch

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _flagged(data: Rows, delete: pa.Table | None) -> pa.RecordBatchReader:
    """`data` with a false `DELETE_FLAG`, followed by the keys of `delete` flagged true.

    The key rows hold NULL in every other column; `data` stays a stream, batch by batch.
    """
    schema = data.schema.append(pa.field(DELETE_FLAG, pa.bool_(), nullable=False))

    def batches() -> Iterator[pa.RecordBatch]:
        source = data.to_batches() if isinstance(data, pa.Table) else data
        for batch in source:
            flags = pa.repeat(pa.scalar(False), batch.num_rows)
            yield pa.RecordBatch.from_arrays([*batch.columns, flags], schema=schema)
        if delete is None:
            return
        n = delete.num_rows
        columns = [
            delete.column(f.name).cast(f.type).combine_chunks()
            if f.name in delete.column_names
            else pa.nulls(n, f.type)
            for f in data.schema
        ]
        yield pa.RecordBatch.from_arrays([*columns, pa.repeat(pa.scalar(True), n)], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class DataFile:
    """A Parquet file already written inside a table's folder, to be committed as is."""

    path: str  # relative to the table root
    size: int
    rows: int
    partition_values: dict[str, str | None]
    modification_time: int  # milliseconds since the epoch

    def action(self) -> AddAction:
        stats = json.dumps({"numRecords": self.rows})
        return AddAction(
            self.path, self.size, self.partition_values, self.modification_time, True, stats
        )


FILE_PARTITION_TYPES = (pa.types.is_integer, pa.types.is_string, pa.types.is_date32)
"""Partition column types whose values an engine's folder names carry exactly."""


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
            try:
                table.load_as_version(version)
            except (DeltaError, OSError) as exc:
                reason = str(exc).splitlines()[0]
                raise StorageError(f"{self.uri} has no version {version}: {reason}") from exc
        return self._dataset(table)

    def snapshot(self) -> tuple[ds.Dataset, int] | None:
        """The current snapshot as an Arrow dataset, with its version (from one open)."""
        table = self._table()
        if table is None:
            return None
        return self._dataset(table), table.version()

    def _dataset(self, table: DeltaTable) -> ds.Dataset:
        dataset = table.to_pyarrow_dataset()
        if not self.lake.is_local or not isinstance(dataset, ds.FileSystemDataset):
            return dataset
        # The same files, by absolute path on the local filesystem rather than through
        # delta-rs's object store: engines can then read them with their own Parquet reader.
        local = pafs.LocalFileSystem()
        fragments = [
            dataset.format.make_fragment(
                f"{self.uri}/{fragment.path}",
                local,
                partition_expression=fragment.partition_expression,
            )
            for fragment in dataset.get_fragments()
        ]
        return ds.FileSystemDataset(fragments, dataset.schema, dataset.format, local)

    def read(self, version: int | None = None) -> pa.Table:
        dataset = self.dataset(version)
        if dataset is None:
            raise StorageError(f"Delta table {self.uri} does not exist")
        return dataset.to_table()

    def changed_partitions(self, since: int | None) -> tuple[int | None, list[dict[str, Any]]]:
        """The current version and the partition values whose files differ between version
        `since` and now (every partition when `since` is None): the partitions a reader that
        synced `since` must sync again. Files added or removed both count."""
        table = self._table()
        if table is None:
            return None, []
        current = table.version()
        now = _files_by_partition(table)
        if since is None:
            before: dict[str, str] = {}
        elif since == current:
            return current, []
        else:
            table.load_as_version(since)
            before = _files_by_partition(table)
        changed = {now.get(f) or before[f] for f in set(now) ^ set(before)}
        return current, [json.loads(key) for key in sorted(changed)]

    def watermark(self, app_id: str) -> int | None:
        return self.watermarks([app_id])[app_id]

    def watermarks(self, app_ids: Iterable[str]) -> dict[str, int | None]:
        """The watermark of each application id, from one read of the table's log."""
        table = self._table()
        return {app: None if table is None else table.transaction_version(app) for app in app_ids}

    def _write(self, data: Rows, mode: str, **kwargs: Any) -> None:
        try:
            write_deltalake(  # type: ignore[call-overload]
                self.uri,
                data,
                mode=mode,
                schema_mode="merge",
                storage_options=self.lake.storage_options,
                writer_properties=_writer_properties(),
                **kwargs,
            )
        except Exception as exc:  # delta-rs raises bare Exceptions for cast errors
            raise StorageError(f"cannot write Delta table {self.uri}: {exc}") from exc

    def append(
        self,
        data: Rows,
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
        data: Rows,
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
        data: Rows,
        partition_by: list[str],
        watermarks: Sequence[Watermark] = (),
        metadata: dict[str, Any] | None = None,
        partitions: pa.Table | None = None,
    ) -> None:
        """Overwrite only the partitions present in `data`, in one commit.

        `partitions` holds the distinct values of the `partition_by` columns in `data`
        (computed from a table when not given; required with a record batch reader).
        """
        present = _partitions(data, partition_by, partitions)
        if not self.exists() or present.num_rows == 0:
            # An empty batch replaces nothing, but its watermarks must still commit.
            self.append(data, partition_by, watermarks, metadata)
            return
        predicate = partition_predicate(present, partition_by)
        self._write(
            data,
            "overwrite",
            partition_by=partition_by,
            predicate=predicate,
            commit_properties=_commit(watermarks, metadata),
        )

    def merge(
        self,
        data: Rows,
        unique_key: list[str],
        partition_by: list[str] | None = None,
        watermarks: Sequence[Watermark] = (),
        metadata: dict[str, Any] | None = None,
        partitions: pa.Table | None = None,
        delete: pa.Table | None = None,
    ) -> dict[str, int]:
        """Upsert by `unique_key` in one commit; creates the table on first use.

        `delete` holds keys (the `unique_key` columns) whose rows are deleted in the same
        commit: they ride in the MERGE source as flagged rows, so the deletion, the upsert and
        the watermarks land in one version. Keys should not also appear in `data`.

        `partitions` (the distinct `partition_by` values of `data`; computed from a table when
        not given) prunes the target scan; the keys to delete are looked up in every partition.
        Unlike the other writes, MERGE holds its source in memory: delta-rs joins it with the
        target in a hash join that cannot spill, and reading the source up front (rather than
        streaming it) keeps that join on the source side, so memory follows the batch merged,
        not the size of the table.
        """
        table = self._table()
        data, empty = _peek(data)
        deleting = table is not None and delete is not None and delete.num_rows > 0
        if table is None or (empty and not deleting):
            # delta-rs makes no commit for an empty merge; an empty append still carries the
            # watermarks, so a batch that was entirely quarantined is not re-read forever.
            counted = _Counted(data)
            self.append(counted.rows(), partition_by, watermarks, metadata)
            return {"num_target_rows_inserted": counted.count, "num_target_rows_updated": 0}
        predicate = " AND ".join(f"t.{k} = s.{k}" for k in unique_key)
        if partition_by:
            # Prune the target scan to the partitions the batch touches.
            present = _partitions(data, partition_by, partitions)
            prune = ["false"]
            if present.num_rows:
                prune = [partition_predicate(present, partition_by, alias="t")]
            if deleting:
                prune.insert(0, f"s.{DELETE_FLAG}")
            predicate += " AND (" + " OR ".join(f"({p})" for p in prune) + ")"
        source = _flagged(data, delete if deleting else None)
        only_data = f"NOT s.{DELETE_FLAG}"
        try:
            merger = table.merge(
                source,
                predicate,
                source_alias="s",
                target_alias="t",
                merge_schema=True,
                writer_properties=_writer_properties(),
                streamed_exec=False,
                commit_properties=_commit(watermarks, metadata),
            )
            if deleting:
                merger = merger.when_matched_delete(predicate=f"s.{DELETE_FLAG}")
            before = table.version()
            result = (
                merger.when_matched_update_all(predicate=only_data, except_cols=[DELETE_FLAG])
                .when_not_matched_insert_all(predicate=only_data, except_cols=[DELETE_FLAG])
                .execute()
            )
        except Exception as exc:  # delta-rs raises bare Exceptions for cast errors
            raise StorageError(f"cannot merge into Delta table {self.uri}: {exc}") from exc
        if table.version() == before:
            # Nothing changed (only absent keys to delete): commit the watermarks regardless.
            self.append(data.schema.empty_table(), partition_by, watermarks, metadata)
        return {k: int(v) for k, v in result.items() if isinstance(v, int)}

    def takes_files(self, schema: pa.Schema, partition_by: list[str]) -> bool:
        """Whether files written with `schema` can be committed as they are (`commit_files`).

        Yes on a local lake, for a new table or one with the same columns and partitioning,
        when the partition columns are integers, strings or dates. Otherwise rows go through
        a delta-rs writer, which evolves the schema.
        """
        if not self.lake.is_local or any(
            not any(check(schema.field(c).type) for check in FILE_PARTITION_TYPES)
            for c in partition_by
        ):
            return False
        table = self._table()
        if table is None:
            return True
        current = pa.schema(table.schema().to_arrow())
        same_columns = [(f.name, f.type) for f in current] == [(f.name, f.type) for f in schema]
        return same_columns and list(table.metadata().partition_columns) == partition_by

    def commit_files(
        self,
        files: Sequence[DataFile],
        schema: pa.Schema,
        mode: str,
        partition_by: list[str] | None = None,
        watermarks: Sequence[Watermark] = (),
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Commit files another writer (Spark) put in the table's folder, in one commit.

        `mode` is "append" or "overwrite" (every current file is removed in the same commit).
        Check `takes_files` first: the files' schema must be the table's.
        """
        actions = [f.action() for f in files]
        commit = _commit(watermarks, metadata)
        try:
            table = self._table()
            if table is None:
                create_table_with_add_actions(
                    self.uri,
                    DeltaSchema.from_arrow(schema),
                    actions,
                    mode="error",
                    partition_by=partition_by or None,
                    storage_options=self.lake.storage_options,
                    commit_properties=commit,
                )
            else:
                table.create_write_transaction(
                    actions,  # type: ignore[arg-type]
                    mode,
                    schema,
                    partition_by or None,
                    commit_properties=commit,
                )
        except Exception as exc:  # delta-rs raises bare Exceptions
            raise StorageError(f"cannot commit files to Delta table {self.uri}: {exc}") from exc

    def vacuum(self, retention_hours: int) -> list[str]:
        """Delete files no longer referenced for longer than the retention."""
        table = self._table()
        if table is None:
            return []
        return table.vacuum(
            retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False
        )


def _files_by_partition(table: DeltaTable) -> dict[str, str]:
    """Each data file of the loaded version → its partition values as canonical JSON."""
    actions = pa.table(table.get_add_actions(flatten=False)).to_pylist()
    return {
        a["path"]: json.dumps(
            {k: _plain(v) for k, v in (a.get("partition") or {}).items()}, sort_keys=True
        )
        for a in actions
    }


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


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
