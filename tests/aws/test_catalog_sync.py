"""`strata catalog sync --glue` on moto (S3 and Glue in server mode, real HTTP APIs).

moto lives for the whole session, so each test syncs under its own profile (the `<env>` of the
database name `strata_<env>_<pipeline>`) and never sees another test's databases.
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import boto3
import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from strata.apis import StubServer
from strata.aws.catalog import (
    CatalogSyncError,
    CatalogSyncReport,
    glue_columns,
    glue_type,
    sync_glue_catalog,
)
from strata.cli.catalog import catalog_app
from strata.config import Settings, load_settings
from strata.errors import ConfigError
from strata.lake.bronze import Bronze
from strata.lake.delta import DeltaTableIO
from strata.session import open_lake, run_pipeline

# --- the type mapping -----------------------------------------------------------------------

TYPES = [
    (pa.string(), "string"),
    (pa.large_string(), "string"),
    (pa.string_view(), "string"),
    (pa.int8(), "tinyint"),
    (pa.int16(), "smallint"),
    (pa.int32(), "int"),
    (pa.int64(), "bigint"),
    (pa.uint8(), "smallint"),
    (pa.uint32(), "bigint"),
    (pa.uint64(), "decimal(20,0)"),
    (pa.float32(), "float"),
    (pa.float64(), "double"),
    (pa.bool_(), "boolean"),
    (pa.date32(), "date"),
    (pa.timestamp("us"), "timestamp"),
    (pa.timestamp("us", tz="UTC"), "timestamp"),
    (pa.timestamp("ns", tz="Europe/Berlin"), "timestamp"),
    (pa.decimal128(18, 2), "decimal(18,2)"),
    (pa.decimal128(38, 0), "decimal(38,0)"),
    (pa.decimal256(38, 10), "decimal(38,10)"),
    (pa.binary(), "binary"),
    (pa.large_binary(), "binary"),
    (pa.binary(16), "binary"),
    (pa.list_(pa.int64()), "array<bigint>"),
    (pa.large_list(pa.string()), "array<string>"),
    (pa.list_(pa.float64(), 3), "array<double>"),
    (pa.struct([("a", pa.int32()), ("b", pa.string())]), "struct<a:int,b:string>"),
    (pa.map_(pa.string(), pa.float64()), "map<string,double>"),
    (pa.dictionary(pa.int32(), pa.string()), "string"),
    (pa.struct([]), "string"),
    (pa.null(), "string"),
    (
        pa.struct(
            [
                ("daily", pa.struct([("time", pa.list_(pa.timestamp("s")))])),
                ("tags", pa.map_(pa.string(), pa.list_(pa.struct([("k", pa.int8())])))),
                ("amount", pa.decimal128(10, 3)),
            ]
        ),
        "struct<daily:struct<time:array<timestamp>>,"
        "tags:map<string,array<struct<k:tinyint>>>,amount:decimal(10,3)>",
    ),
]


@pytest.mark.parametrize(("arrow", "glue"), TYPES, ids=[str(t) for t, _ in TYPES])
def test_arrow_types_map_to_glue_types(arrow: pa.DataType, glue: str) -> None:
    assert glue_type(arrow) == glue


@pytest.mark.parametrize(
    "arrow", [pa.time64("us"), pa.duration("s"), pa.decimal256(40, 2), pa.list_(pa.time32("s"))]
)
def test_types_glue_cannot_hold_are_refused(arrow: pa.DataType) -> None:
    with pytest.raises(CatalogSyncError, match="Glue"):
        glue_type(arrow)


def test_columns_keep_schema_order_and_name_the_bad_column() -> None:
    schema = pa.schema([("z", pa.int64()), ("a", pa.list_(pa.string())), ("load_id", pa.int64())])
    assert glue_columns(schema, skip=["load_id"]) == [
        {"Name": "z", "Type": "bigint"},
        {"Name": "a", "Type": "array<string>"},
    ]
    with pytest.raises(CatalogSyncError, match="column 'when'"):
        glue_columns(pa.schema([("ok", pa.int8()), ("when", pa.time64("us"))]))


# --- helpers ----------------------------------------------------------------------------------


def profile_settings(tmp_path: Path, lake: str, **smartsensor: Any) -> Settings:
    """Settings under a fresh profile (so a fresh set of Glue databases) on `lake`."""
    profile = f"t{uuid.uuid4().hex[:10]}"
    config = tmp_path / "strata.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"[profiles.{profile}]\n")
    options = {"sensors": 3, "days": 31, "check_retry_interval": 0.01, **smartsensor}
    return load_settings(
        profile=profile,
        config_file=config,
        dotenv=None,
        lake=lake,
        state_dir=str(tmp_path / "state"),
        lease_ttl_seconds=5,
        pipelines={"smartsensor": options},
    )


def glue(endpoint: str) -> Any:
    return boto3.client("glue", endpoint_url=endpoint, region_name="eu-central-1")


def glue_tables(client: Any, database: str) -> dict[str, dict[str, Any]]:
    return {t["Name"]: t for t in client.get_tables(DatabaseName=database)["TableList"]}


def partitions(client: Any, database: str, table: str) -> dict[str, dict[str, Any]]:
    found = client.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
    return {p["Values"][0]: p for p in found}


def s3_loads(endpoint: str, bucket: str, prefix: str) -> set[str]:
    """Load ids under a bronze prefix whose manifest exists, read straight from S3."""
    s3 = boto3.client("s3", endpoint_url=endpoint)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    return {
        k[len(prefix) :].split("/")[0].split("=")[1]
        for k in keys
        if k.endswith("/_manifest.json") and k[len(prefix) :].startswith("load_id=")
    }


def actions(report: CatalogSyncReport) -> dict[str, str]:
    return {t.name: t.action for t in report.tables}


def columns(table: dict[str, Any]) -> dict[str, str]:
    return {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}


TYPE_ZOO = pa.table(
    {
        "id": pa.array([1, 2], pa.int64()),
        "tiny": pa.array([1, -1], pa.int8()),
        "small": pa.array([300, -300], pa.int16()),
        "num": pa.array([7, 8], pa.int32()),
        "ratio": pa.array([0.5, 1.5], pa.float32()),
        "price": pa.array([Decimal("1.25"), Decimal("99.99")], pa.decimal128(10, 2)),
        "ok": pa.array([True, False]),
        "day": pa.array([dt.date(2024, 6, 1), dt.date(2024, 6, 2)]),
        "at_utc": pa.array([dt.datetime(2024, 6, 1, 12), None], pa.timestamp("us", tz="UTC")),
        "at_local": pa.array([dt.datetime(2024, 6, 1, 12), None], pa.timestamp("us")),
        "blob": pa.array([b"\x00\x01", b""], pa.binary()),
        "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
        "point": pa.array(
            [{"x": 1.0, "y": 2.0}, None], pa.struct([("x", pa.float64()), ("y", pa.float64())])
        ),
        "attrs": pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int64())),
    }
)
TYPE_ZOO_GLUE = {
    "id": "bigint",
    "tiny": "tinyint",
    "small": "smallint",
    "num": "int",
    "ratio": "float",
    "price": "decimal(10,2)",
    "ok": "boolean",
    "day": "date",
    "at_utc": "timestamp",
    "at_local": "timestamp",
    "blob": "binary",
    "tags": "array<string>",
    "point": "struct<x:double,y:double>",
    "attrs": "map<string,bigint>",
}


# --- a real pipeline's lake ---------------------------------------------------------------------


def test_sync_registers_a_pipeline_lake_idempotently(
    tmp_path: Path, api: StubServer, s3_bucket: str, aws_env: str
) -> None:
    settings = profile_settings(tmp_path, f"s3://{s3_bucket}/lake", api_url=api.url)
    first = run_pipeline(
        "smartsensor",
        settings=settings,
        start_date=dt.date(2024, 6, 1),
        end_date=dt.date(2024, 6, 3),
    )
    assert first.status == "succeeded", first.error
    client = glue(aws_env)
    database = f"strata_{settings.profile}_smartsensor"
    lake_uri = f"s3://{s3_bucket}/lake"

    report = sync_glue_catalog(settings)

    assert [(d.name, d.action) for d in report.databases] == [(database, "created")]
    expected = {
        "bronze_health_checks",
        "bronze_responses",
        "silver_sensor_readings",
        "gold_regional_daily",
        "gold_sensor_monthly",
    }
    assert actions(report) == dict.fromkeys(expected, "created")
    client.get_database(Name=database)
    tables = glue_tables(client, database)
    assert set(tables) == expected

    # Delta tables: what Athena needs to read the Delta log natively, and the real schema.
    silver = tables["silver_sensor_readings"]
    assert silver["TableType"] == "EXTERNAL_TABLE"
    assert silver["Parameters"]["table_type"] == "DELTA"
    assert (
        silver["StorageDescriptor"]["Location"] == f"{lake_uri}/silver/smartsensor/sensor_readings/"
    )
    assert silver.get("PartitionKeys", []) == []
    got = columns(silver)
    assert list(got)[:4] == ["dt", "sensor_id", "region", "latitude"]
    assert {k: got[k] for k in ("dt", "is_complete", "data_quality_score", "processed_at")} == {
        "dt": "date",
        "is_complete": "boolean",
        "data_quality_score": "int",
        "processed_at": "timestamp",
    }
    assert len(got) == 23
    gold = tables["gold_regional_daily"]
    assert gold["StorageDescriptor"]["Location"] == f"{lake_uri}/gold/smartsensor/regional_daily/"
    assert gold["Parameters"]["table_type"] == "DELTA"

    # Bronze: JSON-lines loads, one partition per load folder.
    responses = tables["bronze_responses"]
    assert responses["PartitionKeys"] == [{"Name": "load_id", "Type": "bigint"}]
    assert responses["Parameters"]["classification"] == "json"
    sd = responses["StorageDescriptor"]
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert sd["Location"] == f"{lake_uri}/bronze/smartsensor/responses/"
    response_type = columns(responses)["response"]
    assert response_type.startswith("struct<latitude:double,longitude:double,")
    assert "daily:struct<time:array<timestamp>,temperature_2m_max:array<double>" in response_type
    assert columns(tables["bronze_health_checks"])["rate_limit"] == "string"  # JSON `{}`
    prefix = "lake/bronze/smartsensor/responses/"
    loads = s3_loads(aws_env, s3_bucket, prefix)
    assert len(loads) == 1
    found = partitions(client, database, "bronze_responses")
    assert set(found) == loads
    (load,) = loads
    assert (
        found[load]["StorageDescriptor"]["Location"]
        == f"{lake_uri}/bronze/smartsensor/responses/load_id={load}/"
    )
    checks_prefix = "lake/bronze/smartsensor/health_checks/"
    assert set(partitions(client, database, "bronze_health_checks")) == s3_loads(
        aws_env, s3_bucket, checks_prefix
    )

    # A second sync changes nothing.
    before = glue_tables(client, database)
    again = sync_glue_catalog(settings)
    assert actions(again) == dict.fromkeys(expected, "unchanged")
    assert [d.action for d in again.databases] == ["unchanged"]
    assert (again.partitions_added, again.changed) == (0, False)
    assert glue_tables(client, database) == before

    # A new run: one new response load → exactly one new partition; the Delta tables gained
    # rows, not columns, so they stay unchanged.
    checks_before = s3_loads(aws_env, s3_bucket, checks_prefix)
    second = run_pipeline(
        "smartsensor",
        settings=settings,
        start_date=dt.date(2024, 6, 4),
        end_date=dt.date(2024, 6, 5),
    )
    assert second.status == "succeeded", second.error
    new_loads = s3_loads(aws_env, s3_bucket, prefix) - loads
    assert len(new_loads) == 1
    grown = sync_glue_catalog(settings)
    assert actions(grown) == dict.fromkeys(expected, "unchanged")
    by_name = {t.name: t for t in grown.tables}
    assert (
        by_name["bronze_responses"].partitions_added,
        by_name["bronze_responses"].partitions,
    ) == (1, 2)
    new_checks = s3_loads(aws_env, s3_bucket, checks_prefix) - checks_before
    assert by_name["bronze_health_checks"].partitions_added == len(new_checks) > 0
    assert set(partitions(client, database, "bronze_responses")) == loads | new_loads


def test_schema_changes_update_and_prune_removes_what_is_gone(
    tmp_path: Path, s3_bucket: str, aws_env: str
) -> None:
    settings = profile_settings(tmp_path, f"s3://{s3_bucket}/lake")
    lake = open_lake(settings)
    zoo = DeltaTableIO(lake, "gold/shop/type_zoo")
    zoo.append(TYPE_ZOO)
    DeltaTableIO(lake, "silver/shop/orders").append(pa.table({"order_id": [1, 2]}))
    bronze = Bronze(lake, "shop", "events")
    events = pa.table({"event": ["a", "b"], "n": pa.array([1, 2], pa.int32())})
    load_ids = []
    for i in range(3):  # each load one column more (and so distinct content)
        events = events.append_column(f"c{i}", pa.array([i, i]))
        manifest = bronze.write_batches("events", events.to_reader(), run_id=f"r{i}")
        assert manifest is not None
        load_ids.append(manifest.load_id)
    client = glue(aws_env)
    database = f"strata_{settings.profile}_shop"
    client.create_database(DatabaseInput={"Name": database})  # as Terraform would
    client.create_table(  # a table someone else keeps in the same database
        DatabaseName=database,
        TableInput={"Name": "analyst_view", "TableType": "VIRTUAL_VIEW", "Parameters": {}},
    )

    report = sync_glue_catalog(settings)
    assert [d.action for d in report.databases] == ["unchanged"]
    assert actions(report) == {
        "bronze_events": "created",
        "silver_orders": "created",
        "gold_type_zoo": "created",
    }
    tables = glue_tables(client, database)
    assert columns(tables["gold_type_zoo"]) == TYPE_ZOO_GLUE
    events_table = tables["bronze_events"]
    assert events_table["Parameters"]["classification"] == "parquet"
    assert (
        events_table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
        == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    # The newest load's columns; every load a partition.
    assert columns(events_table) == {
        "event": "string",
        "n": "int",
        "c0": "bigint",
        "c1": "bigint",
        "c2": "bigint",
    }
    assert set(partitions(client, database, "bronze_events")) == {str(i) for i in load_ids}

    # Schema evolution: a new Delta column updates the table, and only that one.
    zoo.append(TYPE_ZOO.append_column("added", pa.array(["x", "y"])))
    evolved = sync_glue_catalog(settings)
    assert actions(evolved) == {
        "bronze_events": "unchanged",
        "silver_orders": "unchanged",
        "gold_type_zoo": "updated",
    }
    assert columns(glue_tables(client, database)["gold_type_zoo"]) == {
        **TYPE_ZOO_GLUE,
        "added": "string",
    }

    # Gone from the lake: a table and the oldest load. Without --prune they stay (stale).
    lake.delete_dir("silver/shop/orders")
    oldest = bronze.manifest(load_ids[0])
    assert oldest is not None
    bronze.delete(oldest)
    kept = sync_glue_catalog(settings)
    assert actions(kept)["silver_orders"] == "stale"
    assert {t.name: t.partitions_stale for t in kept.tables}["bronze_events"] == 1
    assert "silver_orders" in glue_tables(client, database)
    assert len(partitions(client, database, "bronze_events")) == 3

    pruned = sync_glue_catalog(settings, prune=True)
    assert actions(pruned) == {
        "bronze_events": "unchanged",
        "gold_type_zoo": "unchanged",
        "silver_orders": "removed",
    }
    assert {t.name: t.partitions_removed for t in pruned.tables}["bronze_events"] == 1
    assert set(glue_tables(client, database)) == {"bronze_events", "gold_type_zoo", "analyst_view"}
    assert set(partitions(client, database, "bronze_events")) == {str(i) for i in load_ids[1:]}

    settled = sync_glue_catalog(settings, prune=True)
    assert not settled.changed
    assert set(actions(settled).values()) == {"unchanged"}


def test_a_table_strata_did_not_create_is_never_overwritten(
    tmp_path: Path, s3_bucket: str, aws_env: str
) -> None:
    settings = profile_settings(tmp_path, f"s3://{s3_bucket}/lake")
    DeltaTableIO(open_lake(settings), "gold/shop/orders").append(pa.table({"id": [1]}))
    client = glue(aws_env)
    database = f"strata_{settings.profile}_shop"
    client.create_database(DatabaseInput={"Name": database})
    client.create_table(DatabaseName=database, TableInput={"Name": "gold_orders", "Parameters": {}})
    with pytest.raises(CatalogSyncError, match="not created by Strata"):
        sync_glue_catalog(settings)
    assert glue_tables(client, database)["gold_orders"].get("Parameters") == {}


def test_a_local_lake_is_refused_without_touching_it(tmp_path: Path, aws_env: str) -> None:
    settings = profile_settings(tmp_path, str(tmp_path / "lake"))
    with pytest.raises(ConfigError, match=r"needs a lake on S3 \(s3://"):
        sync_glue_catalog(settings, client=glue(aws_env))
    assert not (tmp_path / "lake").exists()


def test_an_unknown_pipeline_is_refused(tmp_path: Path, s3_bucket: str, aws_env: str) -> None:
    settings = profile_settings(tmp_path, f"s3://{s3_bucket}/lake")
    with pytest.raises(
        ConfigError, match=r"unknown pipeline 'smartsensr'.*did you mean 'smartsensor'"
    ):
        sync_glue_catalog(settings, pipelines=["smartsensr"])


# --- the command ------------------------------------------------------------------------------


def cli() -> typer.Typer:
    """The catalog commands mounted as `strata` mounts them (`app.add_typer(..., "catalog")`)."""
    root = typer.Typer()

    @root.callback()
    def _root() -> None: ...

    root.add_typer(catalog_app, name="catalog")
    return root


def table_rows(output: str) -> dict[str, list[str]]:
    """The cells of each row of a printed report, by table name (a database row by its name)."""
    rows = {}
    for line in output.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            rows[cells[1] or cells[0]] = cells
    return rows


def test_cli_sync_prints_what_it_did(
    tmp_path: Path, s3_bucket: str, aws_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = profile_settings(tmp_path, f"s3://{s3_bucket}/lake")
    lake = open_lake(settings)
    DeltaTableIO(lake, "gold/shop/orders").append(pa.table({"id": [1, 2]}))
    csv = Bronze(lake, "shop", "returns")
    csv.write_batches("returns", pa.table({"id": [1]}).to_reader(), fmt="csv", run_id="r")
    monkeypatch.chdir(tmp_path)
    # The CLI's console took its width when strata.cli.app was first imported (COLUMNS then,
    # or the terminal): a wide one here, so no cell is cut short whatever ran before.
    from rich.console import Console

    cli()  # imports strata.cli.app
    app_module = sys.modules["strata.cli.app"]  # the module (strata.cli.app is also the app)
    monkeypatch.setattr(app_module, "out", Console(width=250))
    env = {"STRATA_CONFIG": str(tmp_path / "strata.toml")}
    args = ["catalog", "sync", "--glue", "--lake", settings.lake, "--env", settings.profile]
    database = f"strata_{settings.profile}_shop"
    client = glue(aws_env)

    dry = CliRunner().invoke(cli(), [*args, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "(dry run)" in dry.output and "gold_orders" in dry.output
    with pytest.raises(client.exceptions.EntityNotFoundException):
        client.get_database(Name=database)

    first = CliRunner().invoke(cli(), [*args, "--pipeline", "shop"], env=env)
    assert first.exit_code == 0, first.output
    rows = table_rows(first.output)
    location = f"s3://{s3_bucket}/lake/gold/shop/orders/"
    assert rows == {
        database: [database, "", "", "created", "", ""],
        "bronze_returns": [database, "bronze_returns", "csv", "created", "1 (+1)", ANY],
        "gold_orders": [database, "gold_orders", "delta", "created", "", location],
    }
    assert "3 created, 0 updated, 0 unchanged, 0 removed, 0 stale; partitions: 1 added" in (
        first.output
    )
    returns = glue_tables(client, database)["bronze_returns"]
    assert returns["Parameters"]["skip.header.line.count"] == "1"
    assert returns["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == (
        "org.apache.hadoop.hive.serde2.OpenCSVSerde"
    )

    second = CliRunner().invoke(cli(), args, env=env)
    assert second.exit_code == 0, second.output
    assert [row[3:5] for row in table_rows(second.output).values()] == [
        ["unchanged", ""],
        ["unchanged", "1"],
        ["unchanged", ""],
    ]
    assert "0 created, 0 updated, 3 unchanged, 0 removed" in second.output

    missing_flag = CliRunner().invoke(cli(), ["catalog", "sync", "--lake", settings.lake], env=env)
    assert isinstance(missing_flag.exception, ConfigError)
    assert "--glue" in str(missing_flag.exception)
