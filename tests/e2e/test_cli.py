"""The `strata` command as a user runs it: a real process, real HTTP, a real lake folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from strata.apis import Faults, StubServer
from strata.session import query
from strata.testing import assert_same_rows
from tests.conftest import make_settings

DATES = ["--start-date", "2024-03-01", "--end-date", "2024-03-20"]
CRASH_BEFORE_SILVER_COMMIT = """
import os, sys
import strata.lake.delta as delta
real = delta.DeltaTableIO._write
def crash(self, *args, **kwargs):
    if "silver/" in self.uri:
        os._exit(17)  # the process dies: no cleanup, no lease release
    return real(self, *args, **kwargs)
delta.DeltaTableIO._write = crash
from strata.cli import main
sys.argv = ["strata", *sys.argv[1:]]
main()
"""


def strata(
    *args: str,
    cwd: Path,
    env: dict[str, str],
    code: str | None = None,
) -> subprocess.CompletedProcess[str]:
    command = (
        [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "strata", *args]
    )
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(api: StubServer, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
    return base | {
        "STRATA_SMARTSENSOR__API_URL": api.url,
        "STRATA_SMARTSENSOR__SENSORS": "9",
        "STRATA_LEASE_TTL_SECONDS": "1",
        "COLUMNS": "200",
    }


def test_run_query_and_history(tmp_path: Path, env: dict[str, str]) -> None:
    done = strata("run", "smartsensor", "--lake", "lake", *DATES, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    assert "gold.smartsensor.regional_daily" in done.stdout
    assert "completeness_rate" in done.stdout
    report = next((tmp_path / "lake" / "_runs" / "smartsensor").glob("*.json"))
    assert json.loads(report.read_text())["status"] == "succeeded"

    out = strata(
        "query",
        "SELECT count(*) AS n FROM silver.smartsensor.sensor_readings",
        "--lake",
        "lake",
        "--format",
        "json",
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip()) == {"n": 9 * 20}

    sql = tmp_path / "q.sql"
    sql.write_text(
        "SELECT region, count(*) AS days FROM smartsensor.regional_daily "
        "GROUP BY region ORDER BY region"
    )
    out = strata(
        "query", "-f", str(sql), "--format", "csv", cwd=tmp_path, env=env | {"STRATA_LAKE": "lake"}
    )
    assert out.stdout.splitlines() == [
        '"region","days"',
        '"ZONE_0_0",20',
        '"ZONE_0_1",20',
        '"ZONE_1_0",20',
        '"ZONE_1_1",20',
    ]

    history = strata("runs", "smartsensor", "--lake", "lake", cwd=tmp_path, env=env)
    assert "succeeded" in history.stdout and "smartsensor" in history.stdout


def test_errors_are_one_clear_line(tmp_path: Path, env: dict[str, str]) -> None:
    unknown = strata("run", "smartsensr", "--lake", "lake", cwd=tmp_path, env=env)
    assert unknown.returncode == 2
    assert "unknown pipeline 'smartsensr'" in unknown.stderr
    assert "did you mean 'smartsensor'" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    bad_date = strata("run", "smartsensor", "--start-date", "yesterday-ish", cwd=tmp_path, env=env)
    assert bad_date.returncode == 2 and "is not a date" in bad_date.stderr

    debug = strata(
        "--debug", "query", "SELECT * FROM nowhere.t", "--lake", "lake", cwd=tmp_path, env=env
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_exit_codes_tell_failed_from_partial(
    tmp_path: Path, env: dict[str, str], api: StubServer
) -> None:
    api.faults = Faults(always_status=500)
    env = env | {"STRATA_SMARTSENSOR__CHECK_RETRY_INTERVAL": "0.01"}
    failed = strata("run", "smartsensor", "--lake", "lake", *DATES, cwd=tmp_path, env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "step 'check'" in failed.stderr


def test_crash_between_bronze_and_silver_then_rerun(
    tmp_path: Path, env: dict[str, str], api: StubServer
) -> None:
    crashed = strata(
        "run",
        "smartsensor",
        "--lake",
        "lake",
        *DATES,
        cwd=tmp_path,
        env=env,
        code=CRASH_BEFORE_SILVER_COMMIT,
    )
    assert crashed.returncode == 17
    assert (tmp_path / "lake" / "bronze" / "smartsensor" / "responses").is_dir()
    assert not (tmp_path / "lake" / "silver").exists()

    time.sleep(1.1)  # the dead run's lease (ttl 1 s) expires; nothing else unblocks it
    rerun = strata("run", "smartsensor", "--lake", "lake", *DATES, cwd=tmp_path, env=env)
    assert rerun.returncode == 0, rerun.stderr
    history = strata("runs", "--lake", "lake", cwd=tmp_path, env=env)
    assert "abandoned" in history.stdout

    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    assert (
        strata("run", "smartsensor", "--lake", "lake", *DATES, cwd=clean_dir, env=env).returncode
        == 0
    )
    resumed = make_settings(tmp_path, lake=str(tmp_path / "lake"))
    clean = make_settings(clean_dir, lake=str(clean_dir / "lake"))
    for name, keys in [
        ("silver.smartsensor.sensor_readings", ("dt", "sensor_id")),
        ("smartsensor.regional_daily", ("region", "dt")),
        ("smartsensor.sensor_monthly", ("sensor_id", "month")),
    ]:
        a, b = query(f"SELECT * FROM {name}", resumed), query(f"SELECT * FROM {name}", clean)
        assert_same_rows(a, b, keys, ignore=("processed_at", "ingestion_timestamp"))
