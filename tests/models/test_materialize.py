"""ModelBuilder on a temporary lake: incremental merges, skips, quarantine and full refresh."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from strata.catalog import LakeCatalog
from strata.engines import DuckDBEngine, Engine
from strata.errors import ModelError
from strata.lake.bronze import Bronze, Manifest
from strata.lake.delta import DeltaTableIO
from strata.lake.storage import Lake
from strata.models.materialize import ModelBuilder, ModelResult
from strata.models.model import Model, load_model

PIPELINE = "p"
SOURCE_MARK = "silver.p.events<-bronze.p.events"

EVENTS = """/* strata
layer = "silver"
materialized = "incremental"
unique_key = ["id"]

[[rules]]
type = "not_null"
column = "value"
severity = "block"

[metrics]
total_value = "sum(value)"
*/
SELECT
    id,
    value,
    _load_id,
{% if is_incremental() %}
    id IN (SELECT id FROM {{ this }}) AS updated
{% else %}
    false AS updated
{% endif %}
FROM bronze.events
"""

SUMMARY = """/* strata
layer = "gold"
materialized = "table"
*/
SELECT count(*) AS n, CAST(sum(value) AS BIGINT) AS total FROM silver.events
"""


LATEST = """/* strata
layer = "silver"
materialized = "incremental"
unique_key = ["id"]

[[rules]]
type = "not_null"
column = "value"
severity = "block"
*/
SELECT id, value FROM bronze.events
QUALIFY row_number() OVER (PARTITION BY id ORDER BY _load_id DESC) = 1
"""
"""Only the newest version of each key, so a rebuild from every load gives the merged state."""


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(str(tmp_path / "lake"))


def model(tmp_path: Path, name: str, text: str) -> Model:
    folder = tmp_path / "models"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.sql"
    path.write_text(text)
    return load_model(path, PIPELINE)


def load(lake: Lake, *rows: dict[str, Any], entity: str = "events") -> Manifest:
    data = b"".join(json.dumps(r).encode() + b"\n" for r in rows)
    return Bronze(lake, PIPELINE, entity).write("rows.jsonl", data, fmt="jsonl", run_id="r")


ENGINE = "duckdb"


@pytest.fixture(autouse=True, params=["duckdb", "spark"])
def engine_name(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every build in these tests runs on each engine: the same semantics on both."""
    monkeypatch.setattr(sys.modules[__name__], "ENGINE", request.param)
    return str(request.param)


def open_engine() -> Engine:
    if ENGINE == "spark":
        from strata.engines.spark import SparkEngine

        return SparkEngine(master="local[2]", shuffle_partitions=2)
    return DuckDBEngine(threads=1)


def build(
    lake: Lake, target: Model, full_refresh: bool = False, run_id: str = "run"
) -> ModelResult:
    """One build on a fresh engine session, as one pipeline run would do."""
    with open_engine() as engine:
        return ModelBuilder(engine, LakeCatalog(lake), run_id, full_refresh).build(target)


def table_rows(lake: Lake, path: str, key: str = "id") -> list[dict[str, Any]]:
    return sorted(DeltaTableIO(lake, path).read().to_pylist(), key=lambda r: r[key])


def summary_rows(lake: Lake) -> list[tuple[int, int]]:
    return [(r["n"], r["total"]) for r in table_rows(lake, "gold/p/summary", "n")]


def silver(lake: Lake) -> list[tuple[int, int, bool]]:
    return [(r["id"], r["value"], r["updated"]) for r in table_rows(lake, "silver/p/events")]


def test_incremental_model_first_build(lake: Lake, tmp_path: Path) -> None:
    events = model(tmp_path, "events", EVENTS)
    first = load(lake, {"id": 1, "value": 10}, {"id": 2, "value": 20})
    second = load(lake, {"id": 3, "value": 30})
    result = build(lake, events)
    assert result.status == "built"
    assert (result.rows_in, result.rows_out, result.quarantined) == (3, 3, 0)
    assert result.metrics == {"total_value": 60}
    assert result.report is not None and result.report.total_rows == 3
    assert result.version == 0
    assert silver(lake) == [(1, 10, False), (2, 20, False), (3, 30, False)]
    assert [r["_load_id"] for r in table_rows(lake, "silver/p/events")] == [
        first.load_id,
        first.load_id,
        second.load_id,
    ]
    target = DeltaTableIO(lake, "silver/p/events")
    assert target.watermark(SOURCE_MARK) == second.load_id


def test_no_new_loads_is_skipped(lake: Lake, tmp_path: Path) -> None:
    events = model(tmp_path, "events", EVENTS)
    load(lake, {"id": 1, "value": 10})
    build(lake, events)
    result = build(lake, events)
    assert result.status == "skipped"
    assert (result.rows_in, result.rows_out) == (0, 0)
    assert result.version == 0
    assert DeltaTableIO(lake, "silver/p/events").version() == 0


def test_new_load_is_merged_and_advances_the_watermark(lake: Lake, tmp_path: Path) -> None:
    events = model(tmp_path, "events", EVENTS)
    load(lake, {"id": 1, "value": 10}, {"id": 2, "value": 20})
    build(lake, events)
    newer = load(lake, {"id": 2, "value": 200}, {"id": 4, "value": 40})
    result = build(lake, events, run_id="run-2")
    assert result.status == "built"
    assert (result.rows_in, result.rows_out) == (2, 2)  # only the new load was read
    assert result.version == 1
    assert silver(lake) == [(1, 10, False), (2, 200, True), (4, 40, False)]
    target = DeltaTableIO(lake, "silver/p/events")
    assert target.watermark(SOURCE_MARK) == newer.load_id
    assert build(lake, events).status == "skipped"


def test_blocking_rule_quarantines_rows(lake: Lake, tmp_path: Path) -> None:
    events = model(tmp_path, "events", EVENTS)
    batch = load(lake, {"id": 1, "value": 10}, {"id": 2, "value": None}, {"id": 3, "value": 30})
    result = build(lake, events, run_id="run-q")
    assert (result.status, result.rows_out, result.quarantined) == ("built", 2, 1)
    assert result.report.quarantined_rows == 1
    assert [r[0] for r in silver(lake)] == [1, 3]
    [bad] = table_rows(lake, "quarantine/p/events")
    assert bad["id"] == 2 and bad["value"] is None
    assert bad["_quality_failed_rules"] == "not_null:value"
    assert bad["_run_id"] == "run-q"
    assert bad["_batch"] == batch.load_id
    assert bad["_quarantined_at"] is not None
    # The quarantine is a table of the lake like any other.
    assert "quarantine.p.events" in {str(t) for t in LakeCatalog(lake).tables()}


def test_table_model_rebuilds_only_when_its_input_changed(lake: Lake, tmp_path: Path) -> None:
    events = model(tmp_path, "events", EVENTS)
    summary = model(tmp_path, "summary", SUMMARY)
    load(lake, {"id": 1, "value": 10}, {"id": 2, "value": 20})
    build(lake, events)
    first = build(lake, summary)
    assert first.status == "built"
    assert summary_rows(lake) == [(2, 30)]
    gold = DeltaTableIO(lake, "gold/p/summary")
    assert gold.watermark("gold.p.summary<-silver.p.events") == 0  # the silver version read

    assert build(lake, summary).status == "skipped"
    assert build(lake, events).status == "skipped"  # nothing new upstream either
    assert build(lake, summary).status == "skipped"

    load(lake, {"id": 3, "value": 5})
    assert build(lake, events).status == "built"
    rebuilt = build(lake, summary)
    assert rebuilt.status == "built"
    assert summary_rows(lake) == [(3, 35)]
    assert gold.version() == 1  # overwritten in one commit
    assert gold.watermark("gold.p.summary<-silver.p.events") == 1


def test_full_refresh_rebuilds_from_every_load(lake: Lake, tmp_path: Path) -> None:
    events = model(tmp_path, "events", EVENTS)
    load(lake, {"id": 1, "value": 10})
    build(lake, events)
    last = load(lake, {"id": 2, "value": 20})
    build(lake, events)
    # Someone damages silver; an incremental run sees no new loads and leaves it.
    target = DeltaTableIO(lake, "silver/p/events")
    damaged = target.read().slice(0, 0)
    target.overwrite(damaged)
    assert build(lake, events).status == "skipped"
    assert silver(lake) == []
    result = build(lake, events, full_refresh=True)
    assert result.status == "built"
    assert (result.rows_in, result.rows_out) == (2, 2)
    assert silver(lake) == [(1, 10, False), (2, 20, False)]  # not incremental: no self-join
    assert target.watermark(SOURCE_MARK) == last.load_id


def test_unknown_input_table_is_a_model_error(lake: Lake, tmp_path: Path) -> None:
    load(lake, {"id": 1, "value": 10})
    typo = model(tmp_path, "typo", "/* strata\n*/\nSELECT * FROM bronze.evnts\n")
    with pytest.raises(ModelError, match=r"did you mean 'bronze\.p\.events'"):
        build(lake, typo)


def test_sql_error_is_a_model_error(lake: Lake, tmp_path: Path) -> None:
    load(lake, {"id": 1, "value": 10})
    broken = model(tmp_path, "broken", "/* strata\n*/\nSELECT no_such_column FROM bronze.events\n")
    with pytest.raises(ModelError, match=r"silver\.p\.broken"):
        build(lake, broken)


def test_append_strategy(lake: Lake, tmp_path: Path) -> None:
    log = model(
        tmp_path,
        "log",
        '/* strata\nmaterialized = "incremental"\nincremental_strategy = "append"\n*/\n'
        "SELECT id, value FROM bronze.events\n",
    )
    load(lake, {"id": 1, "value": 10})
    build(lake, log)
    load(lake, {"id": 1, "value": 11})
    assert build(lake, log).rows_out == 1
    assert sorted(r["value"] for r in DeltaTableIO(lake, "silver/p/log").read().to_pylist()) == [
        10,
        11,
    ]


def test_replace_partitions_strategy(lake: Lake, tmp_path: Path) -> None:
    daily = model(
        tmp_path,
        "daily",
        '/* strata\nmaterialized = "incremental"\nincremental_strategy = "replace_partitions"\n'
        'partition_by = ["dt"]\n*/\nSELECT dt, id, value FROM bronze.events\n',
    )
    load(lake, {"dt": "d1", "id": 1, "value": 1}, {"dt": "d2", "id": 2, "value": 2})
    build(lake, daily)
    load(lake, {"dt": "d2", "id": 3, "value": 3})
    build(lake, daily)
    rows = table_rows(lake, "silver/p/daily")
    assert [(r["dt"], r["id"]) for r in rows] == [("d1", 1), ("d2", 3)]


def test_table_model_over_bronze_skips_without_new_loads(lake: Lake, tmp_path: Path) -> None:
    snapshot = model(tmp_path, "snapshot", "/* strata\n*/\nSELECT id, value FROM bronze.events\n")
    load(lake, {"id": 1, "value": 10})
    assert build(lake, snapshot).status == "built"
    assert build(lake, snapshot).status == "skipped"


def test_replace_partitions_batch_fully_quarantined(lake: Lake, tmp_path: Path) -> None:
    daily = model(
        tmp_path,
        "daily",
        '/* strata\nmaterialized = "incremental"\nincremental_strategy = "replace_partitions"\n'
        'partition_by = ["dt"]\n[[rules]]\ntype = "not_null"\ncolumn = "value"\n'
        'severity = "block"\n*/\nSELECT dt, id, value FROM bronze.events\n',
    )
    load(lake, {"dt": "d1", "id": 1, "value": 1})
    build(lake, daily)
    load(lake, {"dt": "d2", "id": 2, "value": None})
    result = build(lake, daily)
    assert (result.status, result.rows_out, result.quarantined) == ("built", 0, 1)
    assert [r["id"] for r in table_rows(lake, "silver/p/daily")] == [1]


def test_merge_batch_fully_quarantined_advances_the_watermark(lake: Lake, tmp_path: Path) -> None:
    events = model(tmp_path, "events", EVENTS)
    load(lake, {"id": 1, "value": 10})
    build(lake, events)
    bad = load(lake, {"id": 2, "value": None})
    result = build(lake, events)
    assert (result.status, result.rows_out, result.quarantined) == ("built", 0, 1)
    assert [r[0] for r in silver(lake)] == [1]
    assert DeltaTableIO(lake, "silver/p/events").watermark(SOURCE_MARK) == bad.load_id
    assert build(lake, events).status == "skipped"


def test_output_larger_than_a_stream_batch_is_written_whole(lake: Lake, tmp_path: Path) -> None:
    numbers = model(
        tmp_path,
        "numbers",
        '/* strata\nlayer = "gold"\npartition_by = ["bucket"]\n'
        '[[rules]]\ntype = "expression"\nsql = "n % 1000 <> 0"\nseverity = "block"\n'
        "threshold = 0.01\n"
        '[metrics]\ntotal = "sum(n)"\n*/\n'
        "SELECT n, n % 3 AS bucket FROM (SELECT unnest(range(100000)) AS n) AS numbers\n",
    )
    result = build(lake, numbers)
    assert (result.rows_in, result.rows_out, result.quarantined) == (100000, 99900, 100)
    assert result.metrics == {"total": sum(range(100000)) - sum(range(0, 100000, 1000))}
    written = DeltaTableIO(lake, "gold/p/numbers").read()
    assert written.num_rows == 99900
    assert "_quality_warnings" not in written.column_names  # no warn rules
    assert DeltaTableIO(lake, "quarantine/p/numbers").read().num_rows == 100


def test_runtime_sql_error_is_a_model_error(lake: Lake, tmp_path: Path) -> None:
    load(lake, {"id": 1, "value": 10})
    broken = model(
        tmp_path,
        "broken",
        "/* strata\n*/\nSELECT CAST('x' || id AS INTEGER) AS n FROM bronze.events\n",
    )
    with pytest.raises(ModelError, match=r"silver\.p\.broken"):
        build(lake, broken)


def test_build_leaves_no_relations_behind(lake: Lake, tmp_path: Path) -> None:
    events = model(tmp_path, "events", EVENTS)
    load(lake, {"id": 1, "value": 10}, {"id": 2, "value": None})
    with DuckDBEngine(threads=1) as engine:
        ModelBuilder(engine, LakeCatalog(lake), "run").build(events)
        rows = engine.con.sql("SELECT table_name FROM information_schema.tables").fetchall()
    names = {name for (name,) in rows}
    assert not any(name.startswith(("__strata_model", "_dq_")) for name in names)


def test_partitioned_merge_strategy(lake: Lake, tmp_path: Path) -> None:
    daily = model(
        tmp_path,
        "daily",
        '/* strata\nmaterialized = "incremental"\nunique_key = ["dt", "id"]\n'
        'partition_by = ["dt"]\n*/\nSELECT dt, id, value FROM bronze.events\n',
    )
    load(lake, {"dt": "d1", "id": 1, "value": 1}, {"dt": "d2", "id": 2, "value": 2})
    build(lake, daily)
    load(lake, {"dt": "d2", "id": 2, "value": 20}, {"dt": "d3", "id": 3, "value": 3})
    result = build(lake, daily)
    assert result.rows_out == 2
    rows = table_rows(lake, "silver/p/daily")
    assert [(r["dt"], r["id"], r["value"]) for r in rows] == [
        ("d1", 1, 1),
        ("d2", 2, 20),
        ("d3", 3, 3),
    ]


def test_quarantined_merge_keys_are_deleted(lake: Lake, tmp_path: Path) -> None:
    events = model(tmp_path, "events", LATEST)
    load(lake, {"id": 1, "value": 10}, {"id": 2, "value": 20})
    build(lake, events)
    newer = load(lake, {"id": 2, "value": None}, {"id": 3, "value": 30})
    result = build(lake, events, run_id="run-2")
    assert (result.rows_out, result.quarantined) == (1, 1)
    # Key 2's newest version was rejected, so its older version is gone too.
    assert [r["id"] for r in table_rows(lake, "silver/p/events")] == [1, 3]
    # Deletion, upsert and watermark are one commit: one new version, never a gap.
    target = DeltaTableIO(lake, "silver/p/events")
    assert result.version == target.version() == 1
    assert target.watermark(SOURCE_MARK) == newer.load_id
    [last] = DeltaTable(target.uri).history(1)
    assert last["operation"] == "MERGE"
    assert last["operationMetrics"]["num_target_rows_deleted"] == 1
    assert DeltaTable(target.uri, version=0).transaction_version(SOURCE_MARK) != newer.load_id
    assert "_strata_delete" not in target.read().column_names
    # The incremental result is what a rebuild from every load gives.
    incremental = [(r["id"], r["value"]) for r in table_rows(lake, "silver/p/events")]
    build(lake, events, full_refresh=True)
    assert [(r["id"], r["value"]) for r in table_rows(lake, "silver/p/events")] == incremental


def test_fully_quarantined_update_deletes_the_key_in_one_commit(lake: Lake, tmp_path: Path) -> None:
    events = model(tmp_path, "events", EVENTS)
    load(lake, {"id": 1, "value": 10}, {"id": 2, "value": 20})
    build(lake, events)
    bad = load(lake, {"id": 1, "value": None})
    result = build(lake, events)
    assert (result.rows_out, result.quarantined) == (0, 1)
    target = DeltaTableIO(lake, "silver/p/events")
    assert target.version() == 1
    assert target.watermark(SOURCE_MARK) == bad.load_id
    assert [r[0] for r in silver(lake)] == [2]
    assert build(lake, events).status == "skipped"


def test_quarantined_key_is_deleted_from_any_partition(lake: Lake, tmp_path: Path) -> None:
    daily = model(
        tmp_path,
        "daily",
        '/* strata\nmaterialized = "incremental"\nunique_key = ["id"]\n'
        'partition_by = ["dt"]\n[[rules]]\ntype = "not_null"\ncolumn = "dt"\n'
        'severity = "block"\n*/\nSELECT dt, id, value FROM bronze.events\n'
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY _load_id DESC) = 1\n",
    )
    load(lake, {"dt": "d1", "id": 1, "value": 1}, {"dt": "d2", "id": 2, "value": 2})
    build(lake, daily)
    # Key 1 is rejected (no partition value) while the batch only touches partition d3.
    load(lake, {"dt": None, "id": 1, "value": 10}, {"dt": "d3", "id": 3, "value": 3})
    result = build(lake, daily)
    assert (result.rows_out, result.quarantined, result.version) == (1, 1, 1)
    incremental = [(r["dt"], r["id"], r["value"]) for r in table_rows(lake, "silver/p/daily")]
    assert incremental == [("d2", 2, 2), ("d3", 3, 3)]
    build(lake, daily, full_refresh=True)
    rebuilt = [(r["dt"], r["id"], r["value"]) for r in table_rows(lake, "silver/p/daily")]
    assert rebuilt == incremental
