"""Engine parity: every reference pipeline gives the same silver and gold tables on Spark as on
DuckDB, from the same bronze, on a first build and on an incremental one.

DuckDB runs the whole pipeline (extract included) into one lake; the bronze folder is copied to
a second lake and only the pipeline's engine steps run there on Spark. Every Delta table both
lakes hold must then have the same schema (column names and Arrow types) and the same rows,
floats within 1e-9 relative. A pipeline registered without a scenario here fails the suite.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from strata.catalog import LakeCatalog
from strata.config import Settings, load_settings
from strata.files import Landing
from strata.lake.delta import DeltaTableIO
from strata.pipelines import get_pipeline, pipeline_names
from strata.pipelines.retail_marts import generate as retail
from strata.pipelines.shopease.generate import apply_changes, generate
from strata.pipelines.totesys import generate as totes
from strata.pipelines.weather_sales import generate as weather
from strata.session import open_lake, run_pipeline
from strata.testing import assert_same_rows
from tests.conftest import make_settings

# Values that depend on when a row was written, not on the data.
VOLATILE = {"processed_at", "_run_id", "_quarantined_at"}


@dataclass
class Scenario:
    """How to make a pipeline's bronze: settings for a lake folder, a first run, a change."""

    settings: Callable[[Path], Settings]
    first: Callable[[Settings], None]
    change: Callable[[Settings], None]


def run_whole(name: str, settings: Settings, **kwargs: object) -> None:
    record = run_pipeline(name, settings=settings, engine="duckdb", **kwargs)  # type: ignore[arg-type]
    # partial: finished, with warnings (retail_marts rejects its broken sample files)
    assert record.status in ("succeeded", "partial"), record.error


def smartsensor(request: pytest.FixtureRequest) -> Scenario:
    api = request.getfixturevalue("api")

    def days(end: date) -> Callable[[Settings], None]:
        return lambda s: run_whole("smartsensor", s, start_date=date(2024, 1, 1), end_date=end)

    return Scenario(
        settings=lambda folder: make_settings(folder, api_url=api.url),
        first=days(date(2024, 1, 15)),
        change=days(date(2024, 1, 31)),
    )


def shopease(request: pytest.FixtureRequest) -> Scenario:
    url = request.getfixturevalue("pg_url")
    generate(url, transactions=6000, customers=800, products=120, days=90)

    def settings(folder: Path) -> Settings:
        config = folder / "strata.toml"
        folder.mkdir(parents=True, exist_ok=True)
        config.touch()
        options = {"source_url": url, "sync_to_warehouse": False, "batch_rows": 2000}
        return load_settings(
            profile="dev",
            config_file=config,
            dotenv=None,
            lake=str(folder / "lake"),
            state_dir=str(folder / "state"),
            pipelines={"shopease": options},
        )

    def change(s: Settings) -> None:
        apply_changes(url, new_transactions=500, updated_transactions=100, late_transactions=30)
        run_whole("shopease", s)

    return Scenario(settings, lambda s: run_whole("shopease", s), change)


def retail_marts(request: pytest.FixtureRequest) -> Scenario:
    url = request.getfixturevalue("mysql_url")

    def settings(folder: Path) -> Settings:
        config = folder / "strata.toml"
        folder.mkdir(parents=True, exist_ok=True)
        config.touch()
        options = {
            "landing_url": str(folder / "landing"),
            "dimensions_url": url,
            "warehouse_url": url,
            "generate_if_empty": False,
        }
        return load_settings(
            profile="dev",
            config_file=config,
            dotenv=None,
            lake=str(folder / "lake"),
            state_dir=str(folder / "state"),
            pipelines={"retail_marts": options},
        )

    def first(s: Settings) -> None:
        retail.generate(url, Landing(str(Path(s.lake).parent / "landing")), big_rows=3000)
        run_whole("retail_marts", s)

    def change(s: Settings) -> None:
        landing = Landing(str(Path(s.lake).parent / "landing"))
        landing.write("sales_data/later.csv", retail.sales_files(seed=7, big_rows=10)["sales"][1])
        run_whole("retail_marts", s)

    return Scenario(settings, first, change)


def totesys(request: pytest.FixtureRequest) -> Scenario:
    url = request.getfixturevalue("pg_url")
    totes.generate(url, sales_orders=1500)

    def settings(folder: Path) -> Settings:
        config = folder / "strata.toml"
        folder.mkdir(parents=True, exist_ok=True)
        config.touch()
        options = {"source_url": url, "warehouse_url": url, "warehouse_schema": "star"}
        return load_settings(
            profile="dev",
            config_file=config,
            dotenv=None,
            lake=str(folder / "lake"),
            state_dir=str(folder / "state"),
            pipelines={"totesys": options},
        )

    def change(s: Settings) -> None:
        totes.simulate(url, changes=60, seed=3)
        run_whole("totesys", s)

    return Scenario(settings, lambda s: run_whole("totesys", s), change)


def weather_sales(request: pytest.FixtureRequest) -> Scenario:
    source = Path(str(request.getfixturevalue("tmp_path"))) / "weather_sales_source"
    weather.generate(source, days=3, end=date(2024, 7, 3), rows_per_day=3000)

    def settings(folder: Path) -> Settings:
        config = folder / "strata.toml"
        folder.mkdir(parents=True, exist_ok=True)
        config.touch()
        return load_settings(
            profile="dev",
            config_file=config,
            dotenv=None,
            lake=str(folder / "lake"),
            state_dir=str(folder / "state"),
            pipelines={"weather_sales": {"source_folder": str(source)}},
        )

    def change(s: Settings) -> None:
        weather.generate(source, days=2, end=date(2024, 7, 5), rows_per_day=3000, seed=7)
        run_whole("weather_sales", s)

    return Scenario(settings, lambda s: run_whole("weather_sales", s), change)


SCENARIOS: dict[str, Callable[[pytest.FixtureRequest], Scenario]] = {
    "retail_marts": retail_marts,
    "smartsensor": smartsensor,
    "shopease": shopease,
    "totesys": totesys,
    "weather_sales": weather_sales,
}


def test_every_pipeline_has_a_parity_scenario() -> None:
    assert sorted(SCENARIOS) == pipeline_names()


def engine_steps(name: str) -> list[str]:
    spec = get_pipeline(name)
    return [s.name for s in spec.build(spec.options({})).steps if s.runs_on == "engine"]


def copy_bronze(source: Settings, target: Settings) -> None:
    shutil.copytree(Path(source.lake) / "bronze", Path(target.lake) / "bronze", dirs_exist_ok=True)


def delta_tables(settings: Settings, pipeline: str) -> dict[str, pa.Table]:
    lake = open_lake(settings)
    tables = {}
    for ref in LakeCatalog(lake).tables(pipeline):
        if ref.layer != "bronze":
            data = DeltaTableIO(lake, ref.path).read()
            tables[str(ref)] = data.drop_columns([c for c in data.column_names if c in VOLATILE])
    return tables


def sort_keys(name: str, table_name: str, data: pa.Table) -> list[str]:
    models = get_pipeline(name).models()
    model = models.get(table_name.rsplit(".", 1)[-1])
    if model is not None and model.unique_key and not table_name.startswith("quarantine"):
        return list(model.unique_key)
    return [f.name for f in data.schema if not pa.types.is_nested(f.type)]


def assert_same_lakes(name: str, duck: Settings, spark: Settings) -> None:
    expected, actual = delta_tables(duck, name), delta_tables(spark, name)
    assert sorted(actual) == sorted(expected), set(expected) ^ set(actual)
    assert any(t.startswith("gold.") for t in expected)
    for table_name, want in expected.items():
        got = actual[table_name]
        assert got.schema.equals(want.schema), f"{table_name}: {got.schema} vs {want.schema}"
        assert_same_rows(want, got, sort_keys(name, table_name, want), rel=1e-9)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_spark_builds_the_same_tables_as_duckdb(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    scenario = SCENARIOS[name](request)
    duck, spark = scenario.settings(tmp_path / "duckdb"), scenario.settings(tmp_path / "spark")
    steps = engine_steps(name)
    assert steps, f"{name} has no engine steps"

    scenario.first(duck)
    copy_bronze(duck, spark)
    record = run_pipeline(name, settings=spark, engine="spark", steps=steps)
    assert record.status == "succeeded", record.error
    assert record.engine == "spark"
    assert_same_lakes(name, duck, spark)

    # New and changed source rows: both engines build incrementally from the new loads only.
    scenario.change(duck)
    copy_bronze(duck, spark)
    record = run_pipeline(name, settings=spark, engine="spark", steps=steps)
    assert record.status == "succeeded", record.error
    assert_same_lakes(name, duck, spark)
