"""Register the lake's tables in the AWS Glue Data Catalog (`strata catalog sync --glue`).

One Glue database per pipeline, `strata_<env>_<pipeline>` (the names the Terraform module
creates; a missing one is created here):

* silver and gold Delta tables as `<layer>_<table>`: EXTERNAL_TABLE with the parameter
  `table_type=DELTA` and the table's folder as location, which is how Athena (engine v3) reads
  Delta Lake natively, from the transaction log. The columns mirror the Delta schema so Lake
  Formation, views and column filters (which need the Glue schema to match the log) work too.
* bronze entities as `bronze_<entity>`: tables partitioned by `load_id` (bigint), one Glue
  partition per committed load folder (`load_id=<id>/` holding a `_manifest.json`), with the
  SerDe of the load's format (Parquet, CSV with a header line, JSON lines). Athena skips the
  `_manifest.json` beside the data, as it skips every file whose name starts with `_`.

A sync is idempotent: a table is updated only when its definition differs, partitions are added
only when missing, and tables or partitions that are gone from the lake are removed only with
`prune=True` (otherwise reported as stale). Only tables carrying Strata's marker parameter
(`strata.layer`) are ever updated or removed, so tables others put in the database are left
alone. Quarantine tables are not registered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

import pyarrow as pa

from strata.errors import ConfigError, TerminalError, unknown_name

if TYPE_CHECKING:
    from strata.catalog import LakeCatalog, TableRef
    from strata.config import Settings
    from strata.lake.bronze import Manifest

DELTA_LAYERS = ("silver", "gold")
"""Layers registered as Delta tables; bronze is registered as partitioned files."""
MARKER = "strata.layer"
"""The table parameter naming the lake layer: tables without it are never changed or pruned."""
PARTITION_KEY = "load_id"
BATCH_CREATE = 100  # BatchCreatePartition takes at most 100 partitions per call
BATCH_DELETE = 25  # BatchDeletePartition takes at most 25

Action = Literal["created", "updated", "unchanged", "removed", "stale"]

_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}
_TEXT = {
    "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
}
STORAGE_FORMATS: dict[str, dict[str, Any]] = {
    "parquet": _PARQUET,
    "csv": {
        **_TEXT,
        "SerdeInfo": {
            "SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
            "Parameters": {"separatorChar": ",", "quoteChar": '"', "escapeChar": "\\"},
        },
    },
    "jsonl": {
        **_TEXT,
        "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
    },
}
"""Input/output formats and SerDe of each bronze format (Delta tables use the Parquet ones)."""
_CLASSIFICATION = {"parquet": "parquet", "csv": "csv", "jsonl": "json", "delta": "delta"}


class CatalogSyncError(TerminalError):
    """Glue refused a catalog change, could not be reached, or a column type has no Glue type."""


@dataclass(frozen=True)
class DatabaseSync:
    """What a sync did to one Glue database."""

    name: str
    action: Action


@dataclass(frozen=True)
class TableSync:
    """What a sync did to one Glue table (and, for bronze, to its partitions)."""

    database: str
    name: str
    layer: str
    format: str  # delta | parquet | csv | jsonl; "" for a table only found in Glue
    location: str
    action: Action
    partitions_added: int = 0
    partitions_removed: int = 0
    partitions_stale: int = 0  # in Glue but no longer in the lake: `prune` removes them
    partitions: int = 0  # partitions the table has after the sync


@dataclass
class CatalogSyncReport:
    """Every database and table a sync looked at, with what it did (or would do: `dry_run`)."""

    databases: list[DatabaseSync] = field(default_factory=list)
    tables: list[TableSync] = field(default_factory=list)
    dry_run: bool = False

    def _actions(self) -> list[Action]:
        return [d.action for d in self.databases] + [t.action for t in self.tables]

    def count(self, action: Action) -> int:
        """Databases and tables with this action."""
        return self._actions().count(action)

    @property
    def partitions_added(self) -> int:
        return sum(t.partitions_added for t in self.tables)

    @property
    def partitions_removed(self) -> int:
        return sum(t.partitions_removed for t in self.tables)

    @property
    def changed(self) -> bool:
        """Whether the sync changed (or, dry, would change) anything in the catalog."""
        actions = {"created", "updated", "removed"}
        return (
            any(action in actions for action in self._actions())
            or self.partitions_added > 0
            or self.partitions_removed > 0
        )

    def summary(self) -> str:
        counts = ", ".join(
            f"{self.count(a)} {a}" for a in ("created", "updated", "unchanged", "removed", "stale")
        )
        parts = f"partitions: {self.partitions_added} added, {self.partitions_removed} removed"
        return f"{counts}; {parts}" + (" (dry run: nothing written)" if self.dry_run else "")


# --- names -------------------------------------------------------------------------------------


def _identifier(text: str) -> str:
    """A Glue/Athena name: lower case letters, digits and underscores."""
    return re.sub(r"[^a-z0-9_]+", "_", text.lower())


def database_name(env: str, pipeline: str) -> str:
    """The Glue database of a pipeline in an environment: `strata_<env>_<pipeline>`."""
    return _identifier(f"strata_{env}_{pipeline}")


def glue_table_name(ref: TableRef) -> str:
    """`<layer>_<table>`: `gold_fact_daily_sales_weather`, `bronze_responses`."""
    return _identifier(f"{ref.layer}_{ref.name}")


# --- types ------------------------------------------------------------------------------------


def glue_type(arrow_type: pa.DataType) -> str:
    """The Glue (Hive DDL) type of an Arrow type, nested types included.

    Timestamps map to `timestamp` whatever their unit and zone (Delta's `timestamp` is UTC,
    `timestamp_ntz` has no zone; Glue has one timestamp type). Unsigned integers widen to the
    next signed type. An empty struct or a null column (JSON `{}` or all-null fields) becomes
    `string`, as Hive has no such types. Raises CatalogSyncError for types Glue cannot hold
    (time of day, durations, intervals, decimals above 38 digits).
    """
    t = arrow_type
    if pa.types.is_dictionary(t):
        return glue_type(t.value_type)
    for check, name in _SIMPLE:
        if check(t):
            return name
    if pa.types.is_decimal(t):
        if t.precision > 38:
            raise CatalogSyncError(f"decimal({t.precision},{t.scale}) exceeds Glue's 38 digits")
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_map(t):
        return f"map<{glue_type(t.key_type)},{glue_type(t.item_type)}>"
    if _is_list(t):
        return f"array<{glue_type(t.value_type)}>"
    if pa.types.is_struct(t):
        if t.num_fields == 0:
            return "string"
        fields = ",".join(f"{f.name}:{glue_type(f.type)}" for f in t)
        return f"struct<{fields}>"
    raise CatalogSyncError(f"Arrow type {t} has no Glue/Athena equivalent")


def _is_list(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
        or pa.types.is_large_list_view(t)
    )


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_binary(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_binary_view(t)
    )


_SIMPLE: list[tuple[Callable[[pa.DataType], bool], str]] = [
    (_is_text, "string"),
    (pa.types.is_null, "string"),
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_int8, "tinyint"),
    (pa.types.is_int16, "smallint"),
    (pa.types.is_int32, "int"),
    (pa.types.is_int64, "bigint"),
    (pa.types.is_uint8, "smallint"),
    (pa.types.is_uint16, "int"),
    (pa.types.is_uint32, "bigint"),
    (pa.types.is_uint64, "decimal(20,0)"),
    (pa.types.is_float16, "float"),
    (pa.types.is_float32, "float"),
    (pa.types.is_float64, "double"),
    (pa.types.is_date, "date"),
    (pa.types.is_timestamp, "timestamp"),
    (_is_binary, "binary"),
]


def glue_columns(schema: pa.Schema, *, skip: Iterable[str] = ()) -> list[dict[str, str]]:
    """Glue `Columns` of an Arrow schema, in schema order (columns named in `skip` left out)."""
    left_out = set(skip)
    columns = []
    for f in schema:
        if f.name in left_out:
            continue
        try:
            columns.append({"Name": f.name, "Type": glue_type(f.type)})
        except CatalogSyncError as exc:
            raise CatalogSyncError(f"column {f.name!r}: {exc}") from exc
    return columns


# --- definitions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Definition:
    """The Glue table one lake table should have, and for bronze its partitions by load id."""

    ref: TableRef
    table_input: dict[str, Any]
    format: str
    location: str
    loads: tuple[int, ...] | None = None  # committed bronze loads; None: not partitioned

    @property
    def name(self) -> str:
        return str(self.table_input["Name"])


def _storage(fmt: str, columns: list[dict[str, str]], location: str) -> dict[str, Any]:
    spec = STORAGE_FORMATS["parquet" if fmt == "delta" else fmt]
    serde = {k: dict(v) if isinstance(v, dict) else v for k, v in spec["SerdeInfo"].items()}
    return {
        "Columns": columns,
        "Location": location,
        "InputFormat": spec["InputFormat"],
        "OutputFormat": spec["OutputFormat"],
        "SerdeInfo": serde,
    }


def _parameters(layer: str, fmt: str) -> dict[str, str]:
    params = {"EXTERNAL": "TRUE", "classification": _CLASSIFICATION[fmt], MARKER: layer}
    if fmt == "delta":
        params["table_type"] = "DELTA"
    if fmt == "csv":
        params["skip.header.line.count"] = "1"
    return params


def delta_definition(catalog: LakeCatalog, ref: TableRef) -> Definition | None:
    """A silver/gold Delta table as Athena reads it natively (None: no Delta log yet)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    lake = catalog.lake
    uri = lake.table_uri(ref.path)
    try:
        table = DeltaTable(uri, storage_options=lake.storage_options)
    except TableNotFoundError:
        return None
    schema = pa.schema(table.schema().to_arrow())
    location = uri.rstrip("/") + "/"
    try:
        columns = glue_columns(schema)
    except CatalogSyncError as exc:
        raise CatalogSyncError(f"{ref}: {exc}") from exc
    table_input = {
        "Name": glue_table_name(ref),
        "Description": f"Strata {ref.layer} Delta table {ref} (read from its Delta log)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": _parameters(ref.layer, "delta"),
        "StorageDescriptor": _storage("delta", columns, location),
        "PartitionKeys": [],
    }
    return Definition(ref, table_input, "delta", location)


def committed_loads(catalog: LakeCatalog, ref: TableRef) -> list[int]:
    """Load ids of a bronze entity whose folder holds a manifest (one recursive listing)."""
    from strata.lake.bronze import MANIFEST

    loads = set()
    for path in catalog.lake.list_files(ref.path, recursive=True):
        folder, _, name = path.rpartition("/")
        if name == MANIFEST and folder.startswith(f"{PARTITION_KEY}=") and "/" not in folder:
            loads.add(int(folder.split("=", 1)[1]))
    return sorted(loads)


def _load_schema(catalog: LakeCatalog, ref: TableRef, manifest: Manifest) -> pa.Schema:
    """The exact Arrow schema of a load: from the manifest, or read (small JSON loads)."""
    schema = manifest.schema_arrow()
    if schema is not None:
        return schema
    return catalog.bronze(ref).read(manifest).schema


def bronze_definition(catalog: LakeCatalog, ref: TableRef) -> Definition | None:
    """A bronze entity as a table partitioned by load id (None: no committed load).

    Columns and format come from the newest load; each partition gets its own load's format.
    """
    loads = committed_loads(catalog, ref)
    if not loads:
        return None
    manifest = catalog.bronze(ref).manifest(loads[-1])
    if manifest is None:  # removed between the listing and now
        return None
    location = catalog.lake.table_uri(ref.path).rstrip("/") + "/"
    try:
        columns = glue_columns(_load_schema(catalog, ref, manifest), skip=[PARTITION_KEY])
    except CatalogSyncError as exc:
        raise CatalogSyncError(f"{ref}: {exc}") from exc
    _check_format(ref, manifest.format)
    table_input = {
        "Name": glue_table_name(ref),
        "Description": f"Strata bronze loads of {ref.pipeline}.{ref.name}, one partition a load",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": _parameters("bronze", manifest.format),
        "StorageDescriptor": _storage(manifest.format, columns, location),
        "PartitionKeys": [{"Name": PARTITION_KEY, "Type": "bigint"}],
    }
    return Definition(ref, table_input, manifest.format, location, tuple(loads))


def _check_format(ref: TableRef, fmt: str) -> None:
    if fmt not in STORAGE_FORMATS:
        raise CatalogSyncError(f"{ref}: bronze format {fmt!r} cannot be registered in Glue")


def partition_input(definition: Definition, load_id: int, fmt: str) -> dict[str, Any]:
    """The Glue partition of one bronze load: its folder, in its own format."""
    _check_format(definition.ref, fmt)
    columns = definition.table_input["StorageDescriptor"]["Columns"]
    location = f"{definition.location}{PARTITION_KEY}={load_id}/"
    return {"Values": [str(load_id)], "StorageDescriptor": _storage(fmt, columns, location)}


# --- comparing --------------------------------------------------------------------------------


def _comparable(table: dict[str, Any]) -> dict[str, Any]:
    """The parts of a Glue table a sync owns, in a form that compares equal when unchanged."""
    sd = table.get("StorageDescriptor") or {}
    serde = sd.get("SerdeInfo") or {}
    return {
        "TableType": table.get("TableType"),
        "Columns": _names_and_types(sd.get("Columns")),
        "PartitionKeys": _names_and_types(table.get("PartitionKeys")),
        "Location": sd.get("Location"),
        "InputFormat": sd.get("InputFormat"),
        "OutputFormat": sd.get("OutputFormat"),
        "SerDe": (serde.get("SerializationLibrary"), serde.get("Parameters") or {}),
        "Description": table.get("Description"),
    }


def _names_and_types(columns: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    """Columns as (name, type), lower case: Hive names and types ignore case."""
    return [(c["Name"].lower(), c["Type"].lower()) for c in columns or []]


def differs(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether an existing Glue table differs from the wanted TableInput.

    Parameters compare on the keys Strata sets only: others (added by Lake Formation, Athena or
    a person) neither trigger an update nor get lost in one.
    """
    params = existing.get("Parameters") or {}
    if any(params.get(k) != v for k, v in wanted["Parameters"].items()):
        return True
    return _comparable(existing) != _comparable(wanted)


def _update_input(existing: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    return {**wanted, "Parameters": {**(existing.get("Parameters") or {}), **wanted["Parameters"]}}


# --- Glue calls -------------------------------------------------------------------------------


def glue_client(settings: Settings) -> Any:
    """A boto3 Glue client on `aws_endpoint_url` (moto, LocalStack) and `aws_region`."""
    from strata.aws.clients import client_for

    with glue_errors("create the Glue client"):
        return client_for("glue", settings)


@contextmanager
def glue_errors(what: str) -> Iterator[None]:
    """boto3/botocore errors raised inside as CatalogSyncError saying what failed."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        raise CatalogSyncError(f"cannot {what}: Glue says {code}: {message}") from exc
    except BotoCoreError as exc:
        raise CatalogSyncError(f"cannot {what}: {exc}") from exc


def _not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    return bool(response.get("Error", {}).get("Code") == "EntityNotFoundException")


def ensure_database(client: Any, name: str, pipeline: str, *, dry_run: bool) -> DatabaseSync:
    """Create the database when missing (Terraform usually created it already)."""
    from botocore.exceptions import ClientError

    with glue_errors(f"read Glue database {name}"):
        try:
            client.get_database(Name=name)
            return DatabaseSync(name, "unchanged")
        except ClientError as exc:
            if not _not_found(exc):
                raise
    if not dry_run:
        with glue_errors(f"create Glue database {name}"):
            client.create_database(
                DatabaseInput={
                    "Name": name,
                    "Description": f"Strata tables of pipeline {pipeline} (strata catalog sync)",
                }
            )
    return DatabaseSync(name, "created")


def _glue_tables(client: Any, database: str, *, exists: bool) -> dict[str, dict[str, Any]]:
    if not exists:
        return {}
    tables: dict[str, dict[str, Any]] = {}
    with glue_errors(f"list the tables of Glue database {database}"):
        for page in client.get_paginator("get_tables").paginate(DatabaseName=database):
            tables.update({t["Name"]: t for t in page["TableList"]})
    return tables


def _glue_partitions(client: Any, database: str, table: str) -> set[int]:
    found: set[int] = set()
    with glue_errors(f"list the partitions of {database}.{table}"):
        for page in client.get_paginator("get_partitions").paginate(
            DatabaseName=database, TableName=table
        ):
            found.update(int(p["Values"][0]) for p in page["Partitions"])
    return found


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _batch_failures(answer: dict[str, Any], what: str) -> None:
    errors = answer.get("Errors") or []
    if errors:
        first = errors[0]
        detail = first.get("ErrorDetail", {})
        raise CatalogSyncError(
            f"cannot {what}: {len(errors)} partition(s) refused, e.g. "
            f"{first.get('PartitionValues')}: {detail.get('ErrorCode')}: "
            f"{detail.get('ErrorMessage')}"
        )


# --- the sync ---------------------------------------------------------------------------------


@dataclass
class _Sync:
    """One sync run: the catalog it reads, the client it writes with, what it did."""

    catalog: LakeCatalog
    client: Any
    prune: bool
    dry_run: bool
    report: CatalogSyncReport

    def pipeline(self, database: str, pipeline: str, refs: list[TableRef]) -> None:
        db = ensure_database(self.client, database, pipeline, dry_run=self.dry_run)
        self.report.databases.append(db)
        existing = _glue_tables(self.client, database, exists=db.action != "created")
        wanted = set()
        for ref in refs:
            definition = self.define(ref)
            if definition is None:
                continue
            wanted.add(definition.name)
            self.table(database, definition, existing.get(definition.name))
        for name, table in sorted(existing.items()):
            layer = (table.get("Parameters") or {}).get(MARKER)
            if name not in wanted and layer is not None:
                self.gone(database, name, layer, table)

    def define(self, ref: TableRef) -> Definition | None:
        if ref.layer == "bronze":
            return bronze_definition(self.catalog, ref)
        return delta_definition(self.catalog, ref)

    def table(self, database: str, definition: Definition, current: dict[str, Any] | None) -> None:
        wanted = definition.table_input
        where = f"{database}.{definition.name}"
        action: Action = "unchanged"
        if current is None:
            action = "created"
            if not self.dry_run:
                with glue_errors(f"create Glue table {where}"):
                    self.client.create_table(DatabaseName=database, TableInput=wanted)
        elif MARKER not in (current.get("Parameters") or {}):
            raise CatalogSyncError(
                f"Glue table {where} exists but was not created by Strata (no {MARKER} "
                "parameter): drop it or rename it, then sync again"
            )
        elif differs(current, wanted):
            action = "updated"
            if not self.dry_run:
                with glue_errors(f"update Glue table {where}"):
                    self.client.update_table(
                        DatabaseName=database, TableInput=_update_input(current, wanted)
                    )
        added = removed = stale = total = 0
        if definition.loads is not None:
            added, removed, stale, total = self.partitions(database, definition, current is None)
        self.report.tables.append(
            TableSync(
                database,
                definition.name,
                definition.ref.layer,
                definition.format,
                definition.location,
                action,
                added,
                removed,
                stale,
                total,
            )
        )

    def partitions(self, database: str, definition: Definition, new: bool) -> tuple[int, ...]:
        """Add missing load partitions; remove vanished ones with `prune`. Returns the counts
        (added, removed, stale, total after the sync)."""
        assert definition.loads is not None
        name, where = definition.name, f"{database}.{definition.name}"
        present = set() if new else _glue_partitions(self.client, database, name)
        missing = [i for i in definition.loads if i not in present]
        vanished = sorted(present - set(definition.loads))
        if missing and not self.dry_run:
            bronze = self.catalog.bronze(definition.ref)
            inputs = []
            for load_id in missing:
                manifest = bronze.manifest(load_id)
                fmt = manifest.format if manifest is not None else definition.format
                inputs.append(partition_input(definition, load_id, fmt))
            for chunk in _chunks(inputs, BATCH_CREATE):
                with glue_errors(f"add partitions to {where}"):
                    answer = self.client.batch_create_partition(
                        DatabaseName=database, TableName=name, PartitionInputList=list(chunk)
                    )
                _batch_failures(answer, f"add partitions to {where}")
        if vanished and self.prune and not self.dry_run:
            self._drop_partitions(database, name, vanished)
        removed = len(vanished) if self.prune else 0
        stale = 0 if self.prune else len(vanished)
        return len(missing), removed, stale, len(present) + len(missing) - removed

    def _drop_partitions(self, database: str, name: str, load_ids: list[int]) -> None:
        where = f"{database}.{name}"
        for chunk in _chunks(load_ids, BATCH_DELETE):
            with glue_errors(f"remove partitions from {where}"):
                answer = self.client.batch_delete_partition(
                    DatabaseName=database,
                    TableName=name,
                    PartitionsToDelete=[{"Values": [str(i)]} for i in chunk],
                )
            _batch_failures(answer, f"remove partitions from {where}")

    def gone(self, database: str, name: str, layer: str, table: dict[str, Any]) -> None:
        """A Strata table whose lake folder is gone: removed with `prune`, else stale."""
        if self.prune and not self.dry_run:
            with glue_errors(f"delete Glue table {database}.{name}"):
                self.client.delete_table(DatabaseName=database, Name=name)
        location = (table.get("StorageDescriptor") or {}).get("Location", "")
        self.report.tables.append(
            TableSync(database, name, layer, "", location, "removed" if self.prune else "stale")
        )


def require_s3_lake(lake: str) -> None:
    """Glue tables point at S3: a local lake cannot be registered."""
    if urlparse(lake).scheme != "s3":
        raise ConfigError(
            f"the Glue Data Catalog needs a lake on S3 (s3://bucket/prefix), not {lake!r}: "
            "set --lake or STRATA_LAKE to the s3:// lake the pipelines write"
        )


def _chosen(found: dict[str, list[TableRef]], pipelines: Sequence[str] | None) -> list[str]:
    """The pipelines to sync: every one with tables in the lake, or those named (each must be
    in the lake or a known pipeline)."""
    if not pipelines:
        return sorted(found)
    from strata.pipelines import pipeline_names

    known = set(found) | set(pipeline_names())
    for name in pipelines:
        if name not in known:
            raise unknown_name("pipeline", name, known)
    return sorted(set(pipelines))


def sync_glue_catalog(
    settings: Settings,
    *,
    pipelines: Sequence[str] | None = None,
    prune: bool = False,
    client: Any = None,
    dry_run: bool = False,
) -> CatalogSyncReport:
    """Register the silver, gold and bronze tables of the lake in the Glue Data Catalog.

    `pipelines` limits the sync to those pipelines (default: every pipeline in the lake);
    `prune` removes Strata tables and bronze partitions that are gone from the lake; `client`
    is a boto3 Glue client (default: one on the settings' AWS endpoint and region); `dry_run`
    reads the catalog and reports what a sync would do, writing nothing. Raises ConfigError for
    a local lake or an unknown pipeline, CatalogSyncError when Glue refuses a change.
    """
    from strata.catalog import LakeCatalog
    from strata.session import open_lake

    require_s3_lake(settings.lake)
    catalog = LakeCatalog(open_lake(settings))
    found: dict[str, list[TableRef]] = {}
    for ref in catalog.tables():
        if ref.layer == "bronze" or ref.layer in DELTA_LAYERS:
            found.setdefault(ref.pipeline, []).append(ref)
    chosen = _chosen(found, pipelines)
    sync = _Sync(
        catalog,
        client if client is not None else glue_client(settings),
        prune,
        dry_run,
        CatalogSyncReport(dry_run=dry_run),
    )
    for pipeline in chosen:
        sync.pipeline(database_name(settings.profile, pipeline), pipeline, found.get(pipeline, []))
    return sync.report
