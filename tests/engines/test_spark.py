"""The Spark engine: transpiling DuckDB SQL, reading the lake, numbers and types as on DuckDB.

Most checks run the same SQL on both engines and compare; the Spark session (local mode) is
shared by the module, as one process shares it in a pipeline run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyspark.sql import functions as F

import strata.engines.spark as spark_module
from strata import pipelines
from strata.catalog import LakeCatalog
from strata.config import Settings
from strata.engines import DuckDBEngine, Engine, get_engine
from strata.engines.spark import SparkEngine
from strata.engines.transpile import Untranspilable, to_spark
from strata.errors import ConfigError, ModelError, StorageError
from strata.lake.delta import DeltaTableIO
from strata.lake.storage import Lake
from strata.models.materialize import ModelBuilder
from strata.models.model import load_model
from strata.quality import QualityCheckFailed, parse_rules
from strata.session import explain
from strata.testing import assert_same_rows


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkEngine]:
    engine = SparkEngine(
        master="local[2]", temp_directory=tmp_path_factory.mktemp("spark"), shuffle_partitions=2
    )
    yield engine
    engine.close()


@pytest.fixture
def duck() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(threads=1) as engine:
        yield engine


def on_both(duck: Engine, spark: Engine, sql: str, **tables: pa.Table) -> tuple[pa.Table, pa.Table]:
    for engine in (duck, spark):
        for name, table in tables.items():
            engine.register(name, table)
    return duck.query(sql), spark.query(sql)


# Transpiling, without Spark ------------------------------------------------------------------


def test_several_unnests_become_one_zipped_lateral_view() -> None:
    sql = to_spark("SELECT id, unnest(a) AS x, CAST(unnest(b) AS DOUBLE) AS y FROM t")
    assert sql.count("LATERAL VIEW") == 1
    assert "INLINE(ARRAYS_ZIP(COALESCE(a, ARRAY()), COALESCE(b, ARRAY())))" in sql
    assert "EXPLODE" not in sql


def test_a_single_unnest_stays_an_explode() -> None:
    assert "EXPLODE(a)" in to_spark("SELECT unnest(a) AS x FROM t")


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("SELECT * FROM a ASOF JOIN b ON a.t >= b.t", "ASOF JOIN"),
        ("SELECT * FROM a POSITIONAL JOIN b", "POSITIONAL JOIN"),
        ("SELECT list_reduce(l, (x, y) -> x + y) AS s FROM t", "function LIST_REDUCE()"),
    ],
)
def test_constructs_spark_cannot_express_are_named(sql: str, construct: str) -> None:
    with pytest.raises(Untranspilable) as raised:
        to_spark(sql, function_exists=lambda name: name.lower() != "list_reduce")
    assert raised.value.construct == construct
    assert "has no Spark SQL equivalent" in str(raised.value)


def test_avg_becomes_an_exact_sum_over_a_count() -> None:
    sql = to_spark("SELECT avg(x) AS a, avg(x) OVER (PARTITION BY g) AS w FROM t")
    assert "AVG" not in sql.upper()
    assert "CAST(SUM(x) AS DOUBLE) / NULLIF(COUNT(x), 0)" in sql
    assert "SUM(x) OVER (PARTITION BY g)" in sql


def test_only_double_rounding_is_rewritten() -> None:
    schema = {"t": {"d": "DOUBLE", "m": "DECIMAL(18,2)"}}
    sql = to_spark("SELECT round(d, 2) AS rd, round(m, 1) AS rm FROM t", schema=schema)
    assert "ROUND((`t`.`d`) * 100) / 100" in sql
    assert "ROUND(`t`.`m`, 1)" in sql


# The same answers on both engines -------------------------------------------------------------


def test_zipped_unnest_pads_the_shorter_list_like_duckdb(duck, spark) -> None:
    lists = pa.table({"id": [1, 2, 3], "a": [[1, 2, 3], [4], []], "b": [["x"], ["y", "z"], None]})
    sql = "SELECT id, unnest(a) AS x, unnest(b) AS y FROM lists"
    ours, theirs = on_both(duck, spark, sql, lists=lists)
    assert ours.num_rows == 5  # padded to the longer list; an empty and a NULL list give none
    assert_same_rows(ours, theirs, ["id", "x", "y"])


def test_averages_and_rounding_agree_at_every_half_cent(duck, spark) -> None:
    # Pairs whose mean ends in 5 at the third decimal: the cases where engines part ways.
    values = [Decimal(cents) / 100 for cents in range(1000, 1600)]
    money = pa.table(
        {
            "g": [i // 2 for i in range(len(values))],
            "amount": pa.array(values, pa.decimal128(18, 2)),
            "d": [float(v) * 1.001 for v in values],
        }
    )
    sql = (
        "SELECT g, round(avg(amount), 2) AS avg_amount, avg(amount) AS exact, "
        "round(avg(d), 3) AS avg_d, round(sum(amount) / count(*), 1) AS div, "
        "sum(amount) AS total, avg(sum(amount)) OVER () AS overall FROM money GROUP BY g"
    )
    ours, theirs = on_both(duck, spark, sql, money=money)
    assert theirs.schema.equals(ours.schema)
    assert theirs.sort_by("g").equals(ours.sort_by("g"))  # exactly, not within a tolerance


def test_result_types_are_duckdbs(duck, spark) -> None:
    data = pa.table({"i": pa.array([1, 2], pa.int32()), "m": pa.array([1, 2], pa.decimal128(9, 2))})
    sql = (
        "SELECT count(*) AS n, sum(i) AS si, sum(m) AS sm, avg(i) AS ai, m * 1.5 AS scaled, "
        "CAST(i AS VARCHAR) AS s, CAST('2024-01-02 03:04:05' AS TIMESTAMP) AS ts FROM data "
        "GROUP BY m, i"
    )
    ours, theirs = on_both(duck, spark, sql, data=data)
    assert theirs.schema.equals(ours.schema)
    assert_same_rows(ours, theirs, ["s"])


def test_delta_partitions_are_read_from_paths_with_spaces_and_plus(
    spark: SparkEngine, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "my lake+1"))
    table = DeltaTableIO(lake, "silver/p/t")
    data = pa.table({"k": list(range(20)), "part": [f"a b+{i % 3}" for i in range(20)]})
    table.overwrite(data, partition_by=["part"])
    dataset = table.dataset()
    assert dataset is not None
    spark.register("parts", dataset)
    got = spark.query("SELECT k, part FROM parts")
    assert_same_rows(data, got, ["k"])


def test_python_batches_run_on_spark_workers_like_on_duckdb(duck, spark) -> None:
    schema = pa.schema([("id", pa.int64()), ("doubled", pa.int64())])

    def double(batch: pa.RecordBatch) -> pa.RecordBatch:
        ids = batch.column(0)
        return pa.RecordBatch.from_arrays([ids, pc.multiply(ids, 2)], schema=schema)

    for engine in (duck, spark):
        engine.register("ids", pa.table({"id": list(range(1000))}))
        engine.map_batches("ids", "doubled", double, schema)
    ours, theirs = duck.query("SELECT * FROM doubled"), spark.query("SELECT * FROM doubled")
    assert ours.num_rows == 1000 and pc.sum(ours["doubled"]).as_py() == 999 * 1000
    assert_same_rows(ours, theirs, ["id"])


def test_quality_split_and_failures_match_duckdb(duck, spark) -> None:
    rows = pa.table({"id": [1, 2, 3, 4], "v": [10, None, -1, 5]})
    rules = parse_rules(
        [
            {"type": "not_null", "column": "v", "severity": "block", "threshold": 0.5},
            {"type": "range", "column": "v", "min": 0, "severity": "warn"},
        ]
    )
    reports = []
    for engine in (duck, spark):
        engine.register("rows", rows)
        engine.create_view("checked_in", "SELECT * FROM rows")
        reports.append(
            engine.check_quality("checked_in", rules, "t", passed="ok", quarantined="bad")
        )
        assert engine.query("SELECT id FROM bad").column("id").to_pylist() == [2]
    assert reports[0].to_dict() == reports[1].to_dict()
    assert_same_rows(duck.query("SELECT * FROM ok"), spark.query("SELECT * FROM ok"), ["id"])

    strict = parse_rules(
        [{"type": "not_null", "column": "v", "severity": "block", "threshold": 0.1}]
    )
    with pytest.raises(QualityCheckFailed, match="failed on 1 of 4 rows"):
        spark.check_quality("checked_in", strict, "t", passed="ok", quarantined="bad")
    missing = parse_rules([{"type": "not_null", "column": "nope"}])
    with pytest.raises(ConfigError, match="do not fit the data"):
        spark.check_quality("checked_in", missing, "t", passed="ok", quarantined="bad")


def test_an_untranspilable_model_fails_naming_model_and_construct(
    spark: SparkEngine, tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    DeltaTableIO(lake, "silver/p/events").overwrite(pa.table({"id": [1], "l": [[1, 2]]}))
    path = tmp_path / "models" / "folded.sql"
    path.parent.mkdir()
    path.write_text(
        '/* strata\nlayer = "gold"\n*/\n'
        "SELECT id, list_reduce(l, (a, b) -> a + b) AS total FROM silver.events\n"
    )
    model = load_model(path, "p")
    with pytest.raises(ModelError) as raised:
        ModelBuilder(spark, LakeCatalog(lake), "run").build(model)
    message = str(raised.value)
    assert "gold.p.folded" in message and "LIST_REDUCE" in message
    assert not DeltaTableIO(lake, "gold/p/folded").exists()


def test_explain_names_where_each_step_runs(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "strata", "run", "shopease", "--engine", "spark", "--explain"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if "│" in line}
    assert "driver" in lines["extract"] and "driver" in lines["sync"]
    assert "spark" in lines["refine"] and "transpiled to Spark SQL" in lines["refine"]
    assert "customers ok" in lines["refine"]
    assert "daily_sales_summary ok" in lines["publish"]
    assert not (tmp_path / "lake").exists()  # nothing ran


def test_a_cluster_master_is_refused_clearly(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"), spark_master="yarn")
    with pytest.raises(ConfigError, match=r"spark_master 'yarn'.*local mode"):
        get_engine("spark", settings)


def test_rows_lost_between_files_and_their_constants_are_an_error(
    spark: SparkEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = DeltaTableIO(Lake(str(tmp_path / "lake")), "silver/p/t")
    table.overwrite(pa.table({"k": [1, 2, 3], "part": ["a", "b", "b"]}), partition_by=["part"])
    dataset = table.dataset()
    assert dataset is not None
    # As if Spark named its files differently from the dataset: no file would match.
    monkeypatch.setattr(spark_module, "_local_path", lambda uri: F.lit("/elsewhere"))
    with pytest.raises(StorageError, match="Spark read 0 of the 3 rows in 2 files"):
        spark.register("lost", dataset)


def test_explain_reports_a_model_spark_cannot_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "folding"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "pipeline.py").write_text(
        "from pydantic import BaseModel\n"
        "from strata.runner import Pipeline, model_step\n"
        "NAME = 'folding'\n"
        "class Options(BaseModel):\n    pass\n"
        "def build(options):\n"
        "    return Pipeline(NAME, [model_step('publish', 'folded', 'plain')])\n"
    )
    (package / "models" / "folded.sql").write_text(
        '/* strata\nlayer = "gold"\n*/\nSELECT list_reduce([1, 2], (a, b) -> a + b) AS total\n'
    )
    (package / "models" / "plain.sql").write_text(
        '/* strata\nlayer = "gold"\n*/\nSELECT 1 AS one\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # Registered for this test only: the registry is process-wide.
    monkeypatch.setitem(pipelines._REGISTRY, "folding", "folding.pipeline")
    settings = Settings(lake=str(tmp_path / "lake"))

    [plan] = explain("folding", settings, "spark")
    assert (plan.step, plan.runs_on, plan.runnable) == ("publish", "spark", False)
    problems = dict(plan.models)
    assert problems["gold.folding.plain"] is None
    assert "LIST_REDUCE() has no Spark SQL equivalent" in str(problems["gold.folding.folded"])
    assert explain("folding", settings, "duckdb")[0].runnable


def test_column_names_are_duckdbs_through_views_and_written_tables(
    duck: DuckDBEngine, spark: SparkEngine, tmp_path: Path
) -> None:
    events = pa.table({"id": [1, 2], "value": [10, 20], "region": ["n", "s"]})
    for engine in (duck, spark):
        engine.register("events", events)
        engine.create_view("named", "SELECT id AS CustomerID, value + 1, region FROM events")
    ours, theirs = duck.query("SELECT * FROM named"), spark.query("SELECT * FROM named")
    assert theirs.column_names == ours.column_names == ["CustomerID", '("value" + 1)', "region"]
    assert_same_rows(ours, theirs, ["CustomerID"])
    # Files Spark writes for a Delta commit carry the same names (else a reader sees NULLs).
    table = DeltaTableIO(Lake(str(tmp_path / "lake")), "gold/p/named")
    folder = f"{table.uri}/strata-test"
    files = spark.write_files("SELECT * FROM named", folder, ["region"])
    table.commit_files(files, ours.schema, "overwrite", ["region"])
    assert_same_rows(ours, table.read().select(ours.column_names), ["CustomerID"])


def test_zipped_unnest_with_a_null_list_keeps_the_other(duck, spark) -> None:
    lists = pa.table({"k": [1, 2], "a": [[1, 2], None], "b": [None, None]})
    lists = lists.cast(
        pa.schema([("k", pa.int64()), ("a", pa.list_(pa.int64())), ("b", pa.list_(pa.string()))])
    )
    ours, theirs = on_both(
        duck, spark, "SELECT k, unnest(a) AS x, unnest(b) AS y FROM lists", lists=lists
    )
    assert ours.num_rows == 2
    assert_same_rows(ours, theirs, ["k", "x"])


def test_avg_under_filter_is_duckdbs(duck, spark) -> None:
    money = pa.table(
        {
            "m": pa.array(
                [Decimal("0.01"), Decimal("0.01"), Decimal("0.02")], pa.decimal128(18, 2)
            ),
            "g": [1, 1, 1],
        }
    )
    sql = "SELECT avg(m) FILTER (WHERE g = 1) AS a FROM money"
    ours, theirs = on_both(duck, spark, sql, money=money)
    assert theirs.equals(ours)


def test_closing_one_engine_leaves_anothers_relations(spark: SparkEngine, tmp_path: Path) -> None:
    spark.register("kept", pa.table({"x": [1, 2, 3]}))
    other = SparkEngine(master="local[2]", temp_directory=tmp_path, shuffle_partitions=2)
    other.register("other", pa.table({"y": [1]}))
    other.close()
    assert spark.query("SELECT count(*) AS n FROM kept").column("n").to_pylist() == [3]
