"""Name resolution: SQL table names onto lake tables, and the catalog that lists them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from strata.catalog import LakeCatalog, TableRef, resolve_tables
from strata.errors import ConfigError, StorageError
from strata.lake.bronze import Bronze
from strata.lake.delta import DeltaTableIO
from strata.lake.storage import Lake

KNOWN = [
    TableRef("bronze", "sensors", "responses"),
    TableRef("silver", "sensors", "readings"),
    TableRef("gold", "sensors", "daily"),
    TableRef("silver", "weather", "readings"),
]


def tables_in(sql: str) -> list[tuple[str, str]]:
    """(name, alias) of every table the SQL reads."""
    return sorted(
        (t.name, t.alias) for t in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table)
    )


def test_fully_qualified_name() -> None:
    sql, refs = resolve_tables("SELECT * FROM silver.weather.readings", KNOWN, "sensors")
    assert refs == [TableRef("silver", "weather", "readings")]
    assert tables_in(sql) == [("silver__weather__readings", "readings")]


def test_layer_table_means_the_current_pipeline() -> None:
    sql, refs = resolve_tables("SELECT * FROM bronze.responses", KNOWN, "sensors")
    assert refs == [TableRef("bronze", "sensors", "responses")]
    assert tables_in(sql) == [("bronze__sensors__responses", "responses")]


def test_layer_table_without_a_pipeline_is_left_alone() -> None:
    sql, refs = resolve_tables("SELECT * FROM silver.readings", KNOWN)
    # A layer name is never read as a pipeline; without a current pipeline the name stays.
    assert refs == []
    assert tables_in(sql) == [("readings", "")]


def test_pipeline_table_means_gold() -> None:
    sql, refs = resolve_tables("SELECT * FROM sensors.daily", KNOWN)
    assert refs == [TableRef("gold", "sensors", "daily")]
    assert tables_in(sql) == [("gold__sensors__daily", "daily")]


def test_cte_and_engine_local_names_are_untouched() -> None:
    sql, refs = resolve_tables(
        "WITH readings AS (SELECT * FROM silver.readings) "
        "SELECT * FROM readings JOIN __strata_model_output o USING (id)",
        KNOWN,
        "sensors",
    )
    assert refs == [TableRef("silver", "sensors", "readings")]
    assert tables_in(sql) == [
        ("__strata_model_output", "o"),
        ("readings", ""),
        ("silver__sensors__readings", "readings"),
    ]


def test_aliases_are_preserved_and_columns_still_resolve() -> None:
    sql, refs = resolve_tables(
        "SELECT r.id, readings.v, d.x FROM silver.sensors.readings AS r "
        "JOIN sensors.daily d ON r.id = d.id "
        "JOIN silver.readings ON readings.id = r.id",
        KNOWN,
        "sensors",
    )
    assert set(refs) == {
        TableRef("silver", "sensors", "readings"),
        TableRef("gold", "sensors", "daily"),
    }
    assert len(refs) == 2  # the same table twice is listed once
    assert tables_in(sql) == [
        ("gold__sensors__daily", "d"),
        ("silver__sensors__readings", "r"),
        ("silver__sensors__readings", "readings"),
    ]
    assert "r.id" in sql and "readings.v" in sql and "d.x" in sql


def test_subqueries_and_several_statements() -> None:
    sql, refs = resolve_tables(
        "SELECT * FROM (SELECT * FROM gold.sensors.daily) AS x "
        "WHERE id IN (SELECT id FROM bronze.responses); SELECT 1",
        KNOWN,
        "sensors",
    )
    assert [str(r) for r in refs] == ["gold.sensors.daily", "bronze.sensors.responses"]
    first, second = sql.split(";\n")
    assert "gold__sensors__daily" in first and "bronze__sensors__responses" in first
    assert second == "SELECT 1"


def test_unknown_table_suggests_the_closest() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown table 'silver\.sensors\.reading'.*did you mean 'silver\.sensors\.readings'",
    ):
        resolve_tables("SELECT * FROM silver.reading", KNOWN, "sensors")
    with pytest.raises(ConfigError, match=r"unknown table 'gold\.sensor\.daily'"):
        resolve_tables("SELECT * FROM sensor.daily", KNOWN)


def test_sql_that_does_not_parse() -> None:
    with pytest.raises(ConfigError, match="does not parse"):
        resolve_tables("SELECT FROM WHERE (", KNOWN)


def test_table_ref_names() -> None:
    ref = TableRef("silver", "sensors", "readings")
    assert str(ref) == "silver.sensors.readings"
    assert ref.relation == "silver__sensors__readings"
    assert ref.path == "silver/sensors/readings"


# --- the catalog over a real lake ---------------------------------------------------------------


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    for pipeline, entity, rows in (("sensors", "responses", [1, 2]), ("weather", "raw", [3])):
        data = b"".join(json.dumps({"id": i}).encode() + b"\n" for i in rows)
        Bronze(lake, pipeline, entity).write("x.jsonl", data, fmt="jsonl", run_id="r")
    DeltaTableIO(lake, "silver/sensors/readings").append(pa.table({"id": [1, 2, 3]}))
    DeltaTableIO(lake, "gold/sensors/daily").append(pa.table({"n": [3]}))
    return lake


def test_catalog_lists_tables(lake: Lake) -> None:
    catalog = LakeCatalog(lake)
    assert [str(t) for t in catalog.tables()] == [
        "bronze.sensors.responses",
        "bronze.weather.raw",
        "gold.sensors.daily",
        "silver.sensors.readings",
    ]
    assert [str(t) for t in catalog.tables("weather")] == ["bronze.weather.raw"]


def test_catalog_opens_tables(lake: Lake) -> None:
    catalog = LakeCatalog(lake)
    bronze = catalog.open(TableRef("bronze", "sensors", "responses"))
    assert bronze.column("id").to_pylist() == [1, 2]
    assert bronze.column("_load_id").to_pylist()[0] > 0
    silver = catalog.open(TableRef("silver", "sensors", "readings"))
    assert sorted(silver.to_table().column("id").to_pylist()) == [1, 2, 3]
    with pytest.raises(StorageError, match="does not exist"):
        catalog.open(TableRef("silver", "sensors", "missing"))


def test_read_bronze_after_the_last_load_is_empty(lake: Lake) -> None:
    catalog = LakeCatalog(lake)
    ref = TableRef("bronze", "sensors", "responses")
    first = catalog.read_bronze(ref)
    assert first.data.num_rows == 2 and first.rows == 2 and len(first.load_ids) == 1
    after = catalog.read_bronze(ref, after=first.load_ids[0])
    assert after.load_ids == [] and after.rows == 0
    assert isinstance(after.data, pa.Table) and after.data.column_names == ["_load_id"]
