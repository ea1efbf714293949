"""SmartSensor end to end, in process: tables, values, checkpoints, faults, crash recovery."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from strata.apis import ARCHIVE_PATH, Faults, StubServer, archive_handler, daily_weather
from strata.config import Settings
from strata.lake.delta import DeltaTableIO
from strata.pipelines.smartsensor.grid import sensor_grid
from strata.session import open_lake, query, run_pipeline
from strata.testing import assert_same_rows
from tests.conftest import make_settings

JAN1, JAN15, JAN31 = dt.date(2024, 1, 1), dt.date(2024, 1, 15), dt.date(2024, 1, 31)
VOLATILE = {"processed_at", "ingestion_timestamp"}


def run(settings: Settings, start: dt.date = JAN1, end: dt.date = JAN31, **kwargs):
    return run_pipeline("smartsensor", settings=settings, start_date=start, end_date=end, **kwargs)


def table(settings: Settings, name: str, order: str) -> pa.Table:
    data = query(f"SELECT * FROM {name} ORDER BY {order}", settings)
    return data.drop_columns([c for c in data.column_names if c in VOLATILE])


def step_rows(settings: Settings, record, step: str) -> int | None:
    return record.metrics[step]["rows_out"]


@pytest.fixture
def settings(tmp_path: Path, api: StubServer) -> Settings:
    return make_settings(tmp_path, api_url=api.url)


def test_tables_counts_and_values(settings: Settings) -> None:
    record = run(settings)
    assert record.status == "succeeded", record.error
    silver = table(settings, "silver.smartsensor.sensor_readings", "dt, sensor_id")
    assert silver.num_rows == 9 * 31
    regional = table(settings, "smartsensor.regional_daily", "region, dt")
    assert regional.num_rows == 4 * 31  # 3x3 grid, 2x2 regions → 4 regions
    assert "_quality_warnings" in silver.column_names  # silver has warn rules
    assert "_quality_warnings" not in regional.column_names  # gold has only block rules
    monthly = table(settings, "smartsensor.sensor_monthly", "sensor_id")
    assert monthly.num_rows == 9
    assert monthly.column("days").to_pylist() == [31] * 9

    # Values equal what the API serves for that sensor, converted as the seed does.
    sensor = sensor_grid(9, 52.3676, 4.9041, 0.5, 2)[4]
    truth = daily_weather(sensor.latitude, sensor.longitude, JAN1, JAN31)
    rows = [r for r in silver.to_pylist() if r["sensor_id"] == sensor.sensor_id]
    assert [r["temperature_max"] for r in rows] == truth["temperature_2m_max"]
    assert [r["precipitation"] for r in rows] == truth["precipitation_sum"]
    for row in rows:
        if row["temperature_max"] is not None:
            assert row["temperature_max_f"] == pytest.approx(row["temperature_max"] * 1.8 + 32)
        assert row["region"] == sensor.region

    # Regional aggregates are real group aggregates over several sensors.
    grouped = silver.group_by(["region", "dt"]).aggregate(
        [("temperature_avg", "mean"), ("precipitation", "sum"), ("sensor_id", "count")]
    )
    joined = grouped.join(regional, ["region", "dt"])
    assert max(pc.max(joined.column("sensor_id_count")).as_py(), 0) == 4
    for row in joined.to_pylist():
        assert row["precipitation_sum"] == pytest.approx(row["total_precipitation"])
        if row["temperature_avg_mean"] is not None:
            assert row["temperature_avg_mean"] == pytest.approx(row["avg_temperature"])


def test_quality_metrics_stored_with_the_run(settings: Settings) -> None:
    record = run(settings)
    model = record.metrics["refine"]["silver.smartsensor.sensor_readings"]
    metrics = model["metrics"]
    assert metrics["total_rows"] == 279
    assert metrics["complete_rows"] + (279 - metrics["complete_rows"]) == 279
    nulls = query(
        "SELECT count(*) FILTER (WHERE temperature_avg IS NULL) AS t, "
        "count(*) FILTER (WHERE NOT is_complete) AS i FROM silver.smartsensor.sensor_readings",
        settings,
    ).to_pylist()[0]
    assert metrics["null_temperature_count"] == nulls["t"]
    assert metrics["complete_rows"] == 279 - nulls["i"]
    assert 0 < model["quality"]["score"] <= 100


def test_second_run_extracts_nothing(settings: Settings, api: StubServer) -> None:
    run(settings)
    version = DeltaTableIO(open_lake(settings), "silver/smartsensor/sensor_readings").version()
    before = api.request_count
    again = run(settings)
    assert again.status == "succeeded"
    assert again.metrics["extract"]["rows_out"] == 0
    assert again.metrics["extract"]["up_to_date"] is True
    assert api.request_count - before == 1  # only the health check
    lake = open_lake(settings)
    assert DeltaTableIO(lake, "silver/smartsensor/sensor_readings").version() == version


def test_incremental_run_equals_a_clean_run(
    settings: Settings, tmp_path: Path, api: StubServer
) -> None:
    run(settings, JAN1, JAN15)
    later = run(settings, JAN1, JAN31)
    assert later.metrics["extract"]["rows_out"] == 9 * 16  # only Jan 16..31
    clean = make_settings(tmp_path / "clean", api_url=api.url)
    run(clean)
    assert_same_tables(settings, clean)


TABLES = [
    ("silver.smartsensor.sensor_readings", ("dt", "sensor_id")),
    ("smartsensor.regional_daily", ("region", "dt")),
    ("smartsensor.sensor_monthly", ("sensor_id", "month")),
]


def assert_same_tables(a: Settings, b: Settings) -> None:
    for name, keys in TABLES:
        order = ", ".join(keys)
        assert_same_rows(table(a, name, order), table(b, name, order), keys)


def test_rerun_same_dates_with_full_refresh_has_no_duplicates(settings: Settings) -> None:
    run(settings)
    record = run(settings, full_refresh=True)
    assert record.status == "succeeded"
    assert record.metrics["extract"]["rows_out"] == 279
    counts = query(
        "SELECT count(*) AS n, count(DISTINCT (dt, sensor_id)) AS k "
        "FROM silver.smartsensor.sensor_readings",
        settings,
    ).to_pylist()[0]
    assert counts == {"n": 279, "k": 279}


def test_lookback_rereads_late_days_without_duplicates(tmp_path: Path, api: StubServer) -> None:
    settings = make_settings(tmp_path, api_url=api.url, lookback_days=3)
    run(settings, JAN1, JAN15)
    record = run(settings, JAN1, JAN31)
    assert record.metrics["extract"]["rows_out"] == 9 * (16 + 3)
    n = query("SELECT count(*) AS n FROM silver.smartsensor.sensor_readings", settings)
    assert n.to_pylist() == [{"n": 279}]


def test_check_failure_stops_the_run_before_extract(settings: Settings, api: StubServer) -> None:
    api.faults = Faults(always_status=500)
    record = run(settings)
    assert record.status == "failed"
    assert record.metrics["failed_step"] == "check"
    assert "HTTP 500" in (record.error or "")
    assert "extract" not in record.metrics
    assert api.request_count == 3  # first try + 2 retries (check_max_attempts), then fail fast
    checks = query("SELECT status, error_message FROM bronze.smartsensor.health_checks", settings)
    assert set(checks.column("status").to_pylist()) == {"FAILURE"}
    assert not open_lake(settings).exists("bronze/smartsensor/responses")


def test_a_429_storm_is_survived(settings: Settings, api: StubServer) -> None:
    api.faults = Faults(rate_429=0.6, retry_after=0.01, seed=7)
    record = run_pipeline(
        "smartsensor",
        settings=settings.model_copy(
            update={
                "pipelines": {
                    "smartsensor": {
                        **settings.pipelines["smartsensor"],
                        "request_attempts": 30,
                        "check_max_attempts": 20,
                    }
                }
            }
        ),
        start_date=JAN1,
        end_date=JAN31,
    )
    assert record.status == "succeeded", record.error
    assert api.status_counts.get(429, 0) > 5
    n = query("SELECT count(*) AS n FROM silver.smartsensor.sensor_readings", settings)
    assert n.to_pylist() == [{"n": 279}]


def test_failed_sensors_are_reported_and_fetched_next_run(tmp_path: Path) -> None:
    broken = sensor_grid(9, 52.3676, 4.9041, 0.5, 2)[4]
    down = {"on": True}

    def archive(params: dict[str, list[str]]) -> tuple[int, dict]:
        if (
            down["on"]
            and float(params["latitude"][0]) == broken.latitude
            and float(params["longitude"][0]) == broken.longitude
        ):
            return 503, {"error": True, "reason": "maintenance"}
        return archive_handler(params)

    with StubServer({ARCHIVE_PATH: archive}) as server:
        settings = make_settings(tmp_path, api_url=server.url, request_attempts=2)
        first = run(settings)
        assert first.status == "partial"
        assert first.metrics["extract"]["failed_sensors"] == {
            broken.sensor_id: ("weather API unavailable: HTTP 503")
        }
        assert any(broken.sensor_id in w for w in first.metrics["warnings"])
        down["on"] = False
        second = run(settings)
    assert second.status == "succeeded"
    assert second.metrics["extract"]["rows_out"] == 31  # only the sensor that failed
    n = query("SELECT count(*) AS n FROM silver.smartsensor.sensor_readings", settings)
    assert n.to_pylist() == [{"n": 279}]


def test_retention_deletes_old_consumed_loads_only(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import strata.lake.bronze as bronze

    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
    ids = iter(range(10))
    monkeypatch.setattr(
        bronze, "new_load_id", lambda: int(long_ago.strftime("%Y%m%d%H%M%S")) * 1000 + next(ids)
    )
    first = run(settings, JAN1, JAN15)
    # Both loads are older than the 90-day retention and consumed, but each entity's newest
    # load stays: it holds the entity's extract checkpoint.
    assert first.metrics["housekeeping"]["bronze_loads_deleted"] == 0
    second = run(settings, JAN1, JAN15)
    # The second health check supersedes the first, which goes; the responses load stays, so
    # nothing is fetched again.
    assert second.metrics["housekeeping"]["bronze_loads_deleted"] == 1
    assert second.metrics["extract"]["rows_out"] == 0
    lake = open_lake(settings)
    assert len(list(bronze.Bronze(lake, "smartsensor", "responses").loads())) == 1
    assert len(list(bronze.Bronze(lake, "smartsensor", "health_checks").loads())) == 1
    monkeypatch.undo()
    n = query("SELECT count(*) AS n FROM silver.smartsensor.sensor_readings", settings)
    assert n.to_pylist() == [{"n": 9 * 15}]
