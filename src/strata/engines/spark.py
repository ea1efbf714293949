"""The scale-out engine: the same DuckDB-dialect models on Spark (PySpark, local or a cluster).

How the pieces meet, with nothing downloaded at run time (no Delta or S3 jars):

- SQL is transpiled from DuckDB to Spark SQL (`strata.engines.transpile`); a construct Spark
  cannot express fails with its name before anything runs.
- Inputs: a Delta snapshot or bronze load is a list of Parquet files (delta-rs and the bronze
  manifests know which); Spark reads those files itself. Columns that are constant per file
  (Delta partition values, bronze `_load_id`) are added per group of files. Anything else (CSV
  bronze, an S3 lake without hadoop-aws, in-memory tables) enters through Arrow on the driver.
- Outputs: Spark writes each result as Parquet into the engine's scratch folder; the builder
  streams those files back in record batches and delta-rs commits them, with the watermarks,
  in one Delta commit. Memory stays bounded by a batch on the driver.
- Types: a model's output types are the ones DuckDB gives it. A shadow DuckDB session holds an
  empty copy of every relation; each result is cast to the schema DuckDB derives for the same
  SQL (Spark's decimal widening, `avg` types and integer sums differ otherwise), so a table
  built on Spark has exactly the schema it has on DuckDB and both engines write the same lake.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from strata.engines.base import STREAM_BATCH_ROWS, BatchFn, Engine, Relation
from strata.engines.duckdb import DuckDBEngine
from strata.engines.transpile import to_spark
from strata.errors import ConfigError, ModelError, StorageError
from strata.lake.delta import DataFile
from strata.quality import QualityReport, Rule
from strata.quality.report import split

if TYPE_CHECKING:
    from strata.config import Settings

FILE_COLUMN = "__strata_file"
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"

DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",  # Strata shows its own progress
    "spark.sql.session.timeZone": "UTC",
    # Parquet timestamps as INT64 microseconds (Spark's default INT96 is legacy).
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.driver.extraJavaOptions": "-Dlog4j2.level=ERROR",
}


def _session(master: str, conf: dict[str, str], shuffle_partitions: int) -> SparkSession:
    """The process's Spark session (created once; later calls reuse it as Spark does)."""
    # Workers run this interpreter (mapInArrow steps need strata), bound to loopback locally.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName("strata")
    if master:
        builder = builder.master(master)
    settings = {
        **DEFAULT_CONF,
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        **conf,
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: no Java, bad master or conf
        raise ConfigError(f"Spark did not start (master {master!r}): {_first_line(exc)}") from exc
    spark.sparkContext.setLogLevel("ERROR")
    # PySpark logs every failed statement at ERROR; the ModelError raised says it once.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    return spark


class SparkEngine(Engine):
    """A Spark session running the DuckDB-dialect models, transpiled.

    `master` is Spark's (default `local[N]`, N = the profile's `workers`); `conf` extra Spark
    settings from the profile's `spark_conf`. Results are spilled to `scratch` (a folder under
    the state directory) as Parquet and read back as streams.
    """

    name = "spark"
    dialect = "spark"
    runs_python_udfs = True
    writes_files = True

    def __init__(
        self,
        master: str = "local[2]",
        conf: dict[str, str] | None = None,
        temp_directory: Path | None = None,
        shuffle_partitions: int = 8,
    ) -> None:
        self.spark = _session(master, dict(conf or {}), shuffle_partitions)
        self._shadow = DuckDBEngine(threads=1, memory_limit="128MB")
        if temp_directory is not None:
            temp_directory.mkdir(parents=True, exist_ok=True)
        self._scratch = Path(tempfile.mkdtemp(prefix="strata-spark-", dir=temp_directory))
        self._persisted: dict[str, Path] = {}
        self._backing: dict[str, str] = {}
        self._streams: list[Path] = []
        self._functions: dict[str, bool] = {}
        self._types: dict[str, dict[str, str]] = {}
        self._views: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> SparkEngine:
        """Spark as the profile says: `spark_master` (default `local[workers]`)."""
        master = settings.spark_master or f"local[{settings.workers}]"
        if not master.startswith("local"):
            # Results come back to the driver through a local scratch folder and go into the
            # lake as local files: executors on other machines could not write either.
            raise ConfigError(
                f"spark_master {master!r}: the Spark engine runs Spark in local mode (local[N]) "
                "on the machine of the run; cluster masters are not supported yet"
            )
        return cls(
            master=master,
            conf=settings.spark_conf,
            temp_directory=settings.state_path / "tmp",
            shuffle_partitions=max(4, 2 * settings.workers),
        )

    # SQL in, Spark out ------------------------------------------------------------------

    def transpile(self, sql: str) -> str:
        """`sql` (DuckDB dialect) as Spark SQL; Untranspilable names what does not translate."""
        return to_spark(sql, self._function_exists, self._types)

    def _view(self, relation: str, frame: DataFrame) -> None:
        """Name `frame` `relation` in Spark, its columns named as DuckDB names them (Spark
        names unaliased expressions, and SQLGlot's qualified SQL lowercases, differently)."""
        names = list(self._types[relation])
        if len(names) == len(frame.columns):
            frame = frame.toDF(*names)
        frame.createOrReplaceTempView(relation)
        self._views.add(relation)

    def _known(self, relation: str) -> None:
        """Remember `relation`'s DuckDB column types (from the shadow) for transpiling."""
        rows = self._shadow.con.execute(f"DESCRIBE {relation}").fetchall()
        self._types[relation] = {str(row[0]): str(row[1]) for row in rows}

    def _function_exists(self, name: str) -> bool:
        key = name.lower()
        if key not in self._functions:
            self._functions[key] = bool(self.spark.catalog.functionExists(key))
        return self._functions[key]

    def _frame(self, sql: str) -> DataFrame:
        spark_sql = self.transpile(sql)
        try:
            return self.spark.sql(spark_sql)
        except PySparkException as exc:
            raise ModelError("query", f"Spark: {_first_line(exc)}") from exc

    # Inputs ------------------------------------------------------------------------------

    def register(self, relation: str, data: Relation) -> None:
        self.drop(relation)
        self._shadow.register(relation, pa.table({f.name: [] for f in data.schema}, data.schema))
        self._known(relation)
        self._view(relation, self._read(data))

    def _read(self, data: Relation) -> DataFrame:
        if isinstance(data, ds.FileSystemDataset) and _native_parquet(data):
            return self._read_parquet(data)
        if isinstance(data, ds.Dataset):
            table = data.to_table()
        elif isinstance(data, pa.RecordBatchReader):
            table = data.read_all()
        else:
            table = data
        return self._from_arrow(table)

    def _from_arrow(self, table: pa.Table) -> DataFrame:
        """A DataFrame from Arrow on the driver, keeping naive timestamps naive."""
        if table.num_columns == 0:
            return self.spark.range(0).select()
        return self.spark.createDataFrame(table, schema=from_arrow_schema(table.schema))

    def _read_parquet(self, dataset: ds.FileSystemDataset) -> DataFrame:
        """Spark reads the dataset's files itself, in one scan; columns that are constant per
        file (Delta partition values, bronze `_load_id`) come from a small per-file table
        joined on Spark's own name for each file."""
        schema = dataset.schema
        fragments = list(dataset.get_fragments())
        keys = [ds.get_partition_keys(f.partition_expression) for f in fragments]
        constant = [f.name for f in schema if all(f.name in k for k in keys)]
        stored = pa.schema([f for f in schema if f.name not in constant])
        files = [os.path.abspath(fragment.path) for fragment in fragments]
        frame = self.spark.read.schema(from_arrow_schema(stored)).parquet(*files)
        columns = [F.col(_quote(n)) for n in schema.names]
        if not constant:
            return frame.select(*columns)
        per_file = pa.table(
            {
                FILE_COLUMN: pa.array(files, pa.string()),
                **{c: pa.array([k[c] for k in keys], schema.field(c).type) for c in constant},
            }
        )
        frame = frame.withColumn(FILE_COLUMN, _local_path(F.col("_metadata.file_path")))
        joined = frame.join(F.broadcast(self._from_arrow(per_file)), FILE_COLUMN).select(*columns)
        # A file whose name did not match would drop its rows silently: count both sides
        # (the dataset's count comes from the Parquet footers; Spark's is one small job).
        expected, seen = dataset.count_rows(), joined.count()
        if seen != expected:
            raise StorageError(
                f"Spark read {seen} of the {expected} rows in {len(files)} files under "
                f"{os.path.commonpath(files)}: file names did not match"
            )
        return joined

    # Running SQL -------------------------------------------------------------------------

    def _result(self, sql: str) -> tuple[DataFrame, pa.Schema]:
        """`sql` on Spark, cast (by Spark, exactly) to the types DuckDB gives it, and those."""
        schema = self._shadow.query(sql).schema
        frame = self._frame(sql)
        try:
            wanted = from_arrow_schema(schema)
        except (TypeError, NotImplementedError):  # no Spark type: Arrow casts at the end
            return frame, schema
        if len(wanted) != len(frame.schema):
            return frame, schema  # _conform_batch names the mismatch
        columns = [
            F.col(_quote(have.name)).cast(want.dataType)
            if have.dataType != want.dataType
            else F.col(_quote(have.name))
            for have, want in zip(frame.schema, wanted, strict=True)
        ]
        return frame.select(*columns).toDF(*schema.names), schema

    def query(self, sql: str) -> pa.Table:
        frame, schema = self._result(sql)
        try:
            table = frame.toArrow()
        except PySparkException as exc:
            raise ModelError("query", f"Spark: {_first_line(exc)}") from exc
        return _conform(table, schema)

    def create_view(self, relation: str, sql: str) -> None:
        self.drop(relation)
        # DuckDB binds first: unknown tables and columns are named in the model's own dialect.
        self._shadow.create_view(relation, sql)
        self._known(relation)
        self._view(relation, self._frame(sql))

    def stream(self, sql: str, batch_rows: int = STREAM_BATCH_ROWS) -> pa.RecordBatchReader:
        frame, schema = self._result(sql)
        self._forget_streams()
        folder = self._scratch / f"stream-{uuid.uuid4().hex}"
        self._write(frame, folder)
        self._streams.append(folder)
        files = ds.dataset(str(folder), format="parquet")
        scanner = files.scanner(batch_size=batch_rows, batch_readahead=1, fragment_readahead=1)

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in scanner.to_batches():
                yield _conform_batch(batch, schema)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def write_files(self, sql: str, folder: str, partition_by: list[str]) -> list[DataFile]:
        """Spark writes the result into `folder` (hive-style `col=value/` subfolders, which
        Delta does not need but people recognise); each file becomes a `DataFile` with its
        partition values from its folder names."""
        frame, _ = self._result(sql)
        if partition_by:
            # One task per partition value: a file per partition, not one per task and value.
            frame = frame.repartition(*[F.col(_quote(c)) for c in partition_by])
        root = Path(folder)
        self._write(frame, root, partition_by, mode="errorifexists")
        table_root = root.parent
        files = []
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            if path.suffix != ".parquet" or path.name.startswith((".", "_")):
                path.unlink()  # Spark's _SUCCESS and Hadoop's .crc files are not data
                continue
            stat = path.stat()
            files.append(
                DataFile(
                    path=path.relative_to(table_root).as_posix(),
                    size=stat.st_size,
                    rows=pq.read_metadata(path).num_rows,
                    partition_values=_partition_values(path.relative_to(root), partition_by),
                    modification_time=int(stat.st_mtime * 1000),
                )
            )
        return files

    def _write(
        self,
        frame: DataFrame,
        folder: Path,
        partition_by: Sequence[str] = (),
        mode: str = "overwrite",
    ) -> None:
        """Spark writes `frame` as Parquet under `folder`; a failed job is a ModelError."""
        try:
            frame.write.mode(mode).partitionBy(*partition_by).parquet(str(folder))
        except PySparkException as exc:
            raise ModelError("query", f"Spark: {_first_line(exc)}") from exc
        except Exception as exc:  # py4j errors from a failed job
            raise ModelError("query", f"Spark job failed: {_first_line(exc)}") from exc

    def persist(self, relation: str, sql: str) -> None:
        """Run `sql` once into Parquet in the scratch folder and name it `relation`."""
        self.drop(relation)
        try:
            self._shadow.con.execute(f"CREATE TEMP TABLE {relation} AS {sql}")
        except duckdb.Error as exc:
            raise ModelError("query", str(exc).splitlines()[0]) from exc
        self._known(relation)
        folder = self._scratch / f"{relation}-{uuid.uuid4().hex}"
        self._write(self._frame(sql), folder)
        self._persisted[relation] = folder
        self._view(relation, self.spark.read.parquet(str(folder)))

    # Quality -----------------------------------------------------------------------------

    def check_quality(
        self, relation: str, rules: list[Rule], table: str, *, passed: str, quarantined: str
    ) -> QualityReport:
        self.drop(passed, quarantined)
        # The same split as on DuckDB; every relation it makes is mirrored in the shadow.
        try:
            checked, report = split(
                _SparkBackend(self),
                relation,
                rules,
                passed=passed,
                quarantined=quarantined,
                table_name=table,
                warnings=any(rule.severity == "warn" for rule in rules),
            )
        except ModelError as exc:
            raise ModelError(table, exc.reason) from exc
        self._backing[passed] = self._backing[quarantined] = checked
        return report

    # Python steps ------------------------------------------------------------------------

    def map_batches(self, source: str, target: str, fn: BatchFn, schema: pa.Schema) -> None:
        """`target` = `fn` applied to every record batch of `source`, run by Spark's Python
        workers through Arrow (`mapInArrow`): the rows never pass through the driver."""
        self.drop(target)
        self._shadow.register(target, pa.table({f.name: [] for f in schema}, schema))
        self._known(target)

        def apply(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                yield fn(batch)

        frame = self.spark.table(source).mapInArrow(apply, from_arrow_schema(schema))
        self._view(target, frame)

    # Cleaning up -------------------------------------------------------------------------

    def drop(self, *relations: str) -> None:
        for relation in relations:
            self._drop(relation)
            checked = self._backing.pop(relation, None)
            if checked is not None and checked not in self._backing.values():
                self._drop(checked)
        self._shadow.drop(*relations)

    def _drop(self, relation: str) -> None:
        self._types.pop(relation, None)
        if relation in self._views:
            self.spark.catalog.dropTempView(relation)
            self._views.discard(relation)
        self._shadow.drop(relation)
        folder = self._persisted.pop(relation, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def _forget_streams(self) -> None:
        while self._streams:
            shutil.rmtree(self._streams.pop(), ignore_errors=True)

    def close(self) -> None:
        """Drop this session's relations and scratch files; the Spark session stays up for
        the process (starting one costs seconds), and Spark stops it at exit."""
        for relation in [*self._persisted, *self._views]:
            self._drop(relation)
        self._forget_streams()
        shutil.rmtree(self._scratch, ignore_errors=True)
        self._shadow.close()


class _SparkBackend:
    """`strata.quality.report.SqlBackend` on a Spark engine."""

    def __init__(self, engine: SparkEngine) -> None:
        self.engine = engine

    def persist(self, name: str, sql: str) -> None:
        with _rules_must_bind():
            self.engine.persist(name, sql)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        with _rules_must_bind():
            table = self.engine.query(sql)
        return [tuple(row.values()) for row in table.to_pylist()]

    def view(self, name: str, sql: str) -> None:
        self.engine.create_view(name, sql)

    def discard(self, name: str) -> None:
        self.engine.drop(name)


@contextlib.contextmanager
def _rules_must_bind() -> Iterator[None]:
    """SQL of quality rules that DuckDB cannot bind (a missing column): a ConfigError."""
    try:
        yield
    except ModelError as exc:
        if isinstance(exc.__cause__, duckdb.BinderException | duckdb.CatalogException):
            raise ConfigError(exc.reason) from exc
        raise


def _local_path(uri: Column) -> Column:
    """The local path of the file URI Spark gives a row (`file:/a%20b/c+d.parquet`, or with
    `file:///`): scheme dropped, percent-escapes decoded, a literal `+` kept."""
    path = F.regexp_replace(uri, r"^file:/+", "/")
    return F.url_decode(F.replace(path, F.lit("+"), F.lit("%2B")))


def _partition_values(relative: Path, partition_by: list[str]) -> dict[str, str | None]:
    """`{column: value}` from Spark's `col=value/` folders (values %-escaped, NULL spelled
    `__HIVE_DEFAULT_PARTITION__`), as Delta records them."""
    found: dict[str, str | None] = {}
    for part in relative.parts[:-1]:
        column, _, value = part.partition("=")
        text = urllib.parse.unquote(value)
        found[urllib.parse.unquote(column)] = None if text == HIVE_NULL else text
    return {column: found.get(column) for column in partition_by}


def _native_parquet(dataset: ds.FileSystemDataset) -> bool:
    return (
        bool(dataset.files)
        and isinstance(dataset.filesystem, pafs.LocalFileSystem)
        and isinstance(dataset.format, ds.ParquetFileFormat)
    )


def _conform_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with `schema`'s names and types, by position (Spark names unnamed columns
    differently); a value that does not fit the type DuckDB derives is a ModelError."""
    if batch.num_columns != len(schema):
        raise ModelError(
            "query", f"Spark returned {batch.num_columns} columns where DuckDB has {len(schema)}"
        )
    columns = []
    for column, field in zip(batch.columns, schema, strict=True):
        try:
            columns.append(column if column.type == field.type else column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ModelError(
                "query", f"column {field.name}: Spark's {column.type} does not fit {field.type}"
            ) from exc
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    batches = [_conform_batch(b, schema) for b in table.combine_chunks().to_batches()]
    return pa.Table.from_batches(batches, schema=schema)


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
