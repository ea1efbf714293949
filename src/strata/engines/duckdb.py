"""The embedded engine: DuckDB over Arrow (no extensions, nothing downloaded)."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from strata.engines.base import STREAM_BATCH_ROWS, BatchFn, Engine, Relation
from strata.errors import ConfigError, ModelError
from strata.quality import QualityReport, Rule
from strata.quality.report import split

if TYPE_CHECKING:
    from strata.config import Settings

DEFAULT_MEMORY_LIMIT = 256 << 20
"""DuckDB's default `memory_limit` here: 256 MiB (or an eighth of RAM on a smaller machine)."""


def default_memory_limit() -> str:
    """DuckDB's `memory_limit` unless told otherwise: 256 MiB, at most an eighth of RAM.

    DuckDB's own default (80% of RAM) lets one large model take the whole machine and makes a
    build's memory grow with its data. With a limit, joins, aggregates, windows, sorts and the
    temporary tables of a build spill to the temp directory instead: memory stays flat as data
    grows, at the cost of some disk I/O once the data outgrows the limit (measured on ShopEase,
    10M rows on 2 threads: the run takes ~15% longer than with 1 GiB, and peaks ~850 MB lower).
    """
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows): keep the default
        ram = 8 * DEFAULT_MEMORY_LIMIT
    return f"{min(DEFAULT_MEMORY_LIMIT, ram // 8) >> 20}MiB"


class DuckDBEngine(Engine):
    """A DuckDB session; `threads` follows the profile's `workers`.

    `memory_limit` is DuckDB's (e.g. "2GB"; default: `default_memory_limit()`). Past it, joins,
    aggregates, sorts and the temporary tables of a build spill to `temp_directory` (DuckDB's
    default `.tmp` when not given).
    """

    name = "duckdb"
    dialect = "duckdb"
    runs_python_udfs = True

    def __init__(
        self, threads: int = 2, temp_directory: Path | None = None, memory_limit: str | None = None
    ) -> None:
        # Extensions are never installed or loaded on the fly: nothing may be downloaded at run
        # time, and without ICU every timestamp is handled in UTC.
        self.con = duckdb.connect(
            config={
                "threads": threads,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            }
        )
        self._temp_directory = temp_directory
        if temp_directory is not None:
            # Lets DuckDB spill to disk instead of failing when a batch outgrows memory.
            temp_directory.mkdir(parents=True, exist_ok=True)
            self.con.execute(f"SET temp_directory = '{temp_directory.as_posix()}'")
        limit = memory_limit or default_memory_limit()
        try:
            self.con.execute("SET memory_limit = ?", [limit])
        except duckdb.Error as exc:
            self.con.close()
            raise ConfigError(f"memory_limit {limit!r}: {str(exc).splitlines()[0]}") from exc
        # The temporary table behind each quality split, by the views over it.
        self._backing: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> DuckDBEngine:
        """A session with the profile's `workers` threads, `memory_limit` and temp folder."""
        return cls(
            threads=settings.workers,
            temp_directory=settings.state_path / "tmp",
            memory_limit=settings.memory_limit or None,
        )

    def register(self, relation: str, data: Relation) -> None:
        self.drop(relation)
        if isinstance(data, ds.FileSystemDataset) and self._register_parquet(relation, data):
            return
        self.con.register(relation, data)

    def _register_parquet(self, relation: str, dataset: ds.FileSystemDataset) -> bool:
        """Scan a dataset of local Parquet files with DuckDB's own reader, if it reads the same.

        Through Arrow, each scan decodes whole row groups (and reads ahead) in memory DuckDB
        does not manage; its own reader stays within `memory_limit`. Each file's constant
        columns (bronze `_load_id`, Delta partition columns) come from its partition
        expression, joined in by file name. False, with nothing registered, unless the view
        gives DuckDB exactly the columns and types the dataset would.
        """
        files = dataset.files
        if (
            not files
            or not isinstance(dataset.filesystem, pafs.LocalFileSystem)
            or not isinstance(dataset.format, ds.ParquetFileFormat)
        ):
            return False
        schema = dataset.schema
        keys = [ds.get_partition_keys(f.partition_expression) for f in dataset.get_fragments()]
        # Constant columns: those every file has a value for (NULL included).
        constant = [f.name for f in schema if all(f.name in k for k in keys)]
        file_column, files_relation = "__strata_file", f"{relation}__files"
        try:
            per_file = pa.table(
                {
                    file_column: pa.array(files, pa.string()),
                    **{c: pa.array([k[c] for k in keys], schema.field(c).type) for c in constant},
                }
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return False
        columns = ", ".join(
            f"{'p' if f.name in constant else 'd'}.{_quote(f.name)}" for f in schema
        )
        paths = ", ".join(_literal(path) for path in files)
        sql = (
            f"SELECT {columns} FROM read_parquet([{paths}], filename = '{file_column}', "
            f"hive_partitioning = false, union_by_name = true) AS d "
            f"JOIN {files_relation} AS p ON d.{file_column} = p.{file_column}"
        )
        self.con.register(files_relation, per_file)
        try:
            self.con.execute(f"CREATE TEMP VIEW {relation} AS {sql}")
            native = self.con.sql(f"SELECT * FROM {relation}")
            # What DuckDB would see through Arrow: binding reads the schema, not the data.
            self.con.register(relation + "__arrow", dataset)
            arrow = self.con.sql(f"SELECT * FROM {relation}__arrow")
            same = [(c, str(t)) for c, t in zip(native.columns, native.types, strict=True)] == [
                (c, str(t)) for c, t in zip(arrow.columns, arrow.types, strict=True)
            ]
        except duckdb.Error:
            same = False
        finally:
            self.con.unregister(relation + "__arrow")
        if not same:
            self._drop(relation)
            self.con.unregister(files_relation)
            return False
        self._backing[relation] = files_relation
        return True

    def query(self, sql: str) -> pa.Table:
        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise ModelError("query", str(exc).splitlines()[0]) from exc

    def create_view(self, relation: str, sql: str) -> None:
        self.drop(relation)
        try:
            self.con.execute(f"CREATE TEMP VIEW {relation} AS {sql}")
        except duckdb.Error as exc:
            raise ModelError("query", str(exc).splitlines()[0]) from exc

    def stream(self, sql: str, batch_rows: int = STREAM_BATCH_ROWS) -> pa.RecordBatchReader:
        try:
            reader = self.con.sql(sql).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            raise ModelError("query", str(exc).splitlines()[0]) from exc
        assert isinstance(reader, pa.RecordBatchReader)
        return reader

    def check_quality(
        self,
        relation: str,
        rules: list[Rule],
        table: str,
        *,
        passed: str,
        quarantined: str,
        warnings: bool | None = None,
    ) -> QualityReport:
        """See `Engine.check_quality`; `warnings` forces `_quality_warnings` in or out of
        `passed` (default: in when a rule has severity warn)."""
        self.drop(passed, quarantined)
        if warnings is None:
            warnings = any(rule.severity == "warn" for rule in rules)
        try:
            checked, report = split(
                self.con,
                relation,
                rules,
                passed=passed,
                quarantined=quarantined,
                table_name=table,
                warnings=warnings,
            )
        except duckdb.Error as exc:  # the relation's own SQL failed while running (casts, …)
            raise ModelError(table, str(exc).splitlines()[0]) from exc
        self._backing[passed] = self._backing[quarantined] = checked
        return report

    def map_batches(self, source: str, target: str, fn: BatchFn, schema: pa.Schema) -> None:
        """`source` is spilled to a Parquet file first: DuckDB cannot read one query's stream
        while another writes on the same connection."""
        self.drop(target)
        folder = Path(self._temp_directory or tempfile.gettempdir())
        spill = folder / f"strata-{target}-{uuid.uuid4().hex}.parquet"
        feed = f"{target}__batches"
        try:
            self.con.execute(
                f"COPY (SELECT * FROM {source}) TO {_literal(str(spill))} (FORMAT parquet)"
            )
            batches = (fn(batch) for batch in pq.ParquetFile(spill).iter_batches(STREAM_BATCH_ROWS))
            self.con.register(feed, pa.RecordBatchReader.from_batches(schema, batches))
            self.con.execute(f"CREATE TEMP TABLE {target} AS SELECT * FROM {feed}")
        except duckdb.Error as exc:
            raise ModelError("query", str(exc).splitlines()[0]) from exc
        finally:
            self.con.unregister(feed)
            spill.unlink(missing_ok=True)

    def drop(self, *relations: str) -> None:
        for relation in relations:
            self._drop(relation)
            checked = self._backing.pop(relation, None)
            if checked is not None and checked not in self._backing.values():
                self._drop(checked)

    def _drop(self, relation: str) -> None:
        """Drop the registered object, temporary view or temporary table `relation`, if any.

        Objects of the session's own database (not temporary) are never touched. No catalog
        query (a build drops dozens of names, most of which do not exist): DROP VIEW IF EXISTS
        drops a view or does nothing, and refuses a table, which DROP TABLE then drops.
        """
        self.con.unregister(relation)
        try:
            self.con.execute(f"DROP VIEW IF EXISTS temp.main.{relation}")
        except duckdb.CatalogException:  # a table of that name
            self.con.execute(f"DROP TABLE IF EXISTS temp.main.{relation}")

    def close(self) -> None:
        self.con.close()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
