"""`strata schedule`: expressions, due order, no overlap or backlog, leases held elsewhere,
failures, SIGTERM; with an injected clock, then for real in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from strata.config import Settings, load_settings
from strata.errors import ConfigError, LeaseHeld, SourceError
from strata.runner.schedule import Scheduler, parse_schedule

T0 = datetime(2026, 11, 23, 1, 58, tzinfo=UTC)  # a Monday


def test_expressions() -> None:
    assert parse_schedule("off") is None and parse_schedule("") is None
    assert parse_schedule("rate(5 minutes)")(T0) == T0 + timedelta(minutes=5)  # type: ignore[misc]
    assert parse_schedule("rate(1 day)")(T0) == T0 + timedelta(days=1)  # type: ignore[misc]
    daily = parse_schedule("cron(0 2 * * ? *)")
    assert daily is not None and daily(T0) == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    tuesdays = parse_schedule("cron(30 9 ? * 3 *)")  # EventBridge 3 = TUE
    assert tuesdays is not None and tuesdays(T0) == datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    five = parse_schedule("*/15 * * * *")
    assert five is not None and five(T0) == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    for bad in ("rate(5 fortnights)", "cron(0 2 * *)", "every day", "cron(0 2 * * ? 2027)"):
        with pytest.raises(ConfigError):
            parse_schedule(bad)


def test_bad_schedules_fail_at_settings_load() -> None:
    with pytest.raises(ConfigError, match="every day"):
        load_settings(schedules={"totesys": "every day"})


class Clock:
    """A clock that moves only when runs take time (and when the scheduler waits)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class FakeRunner:
    def __init__(self, clock: Clock, takes: dict[str, timedelta], fail: Any = None) -> None:
        self.clock, self.takes, self.fail, self.calls = clock, takes, fail, []

    def __call__(self, name: str, **kwargs: Any) -> Any:
        self.calls.append((name, self.clock.now))
        self.clock.now += self.takes.get(name, timedelta(seconds=1))
        if self.fail:
            raise self.fail(name)
        return type(
            "R", (), {"run_id": f"run-{len(self.calls)}", "status": "succeeded", "error": None}
        )


class WaitingStop(threading.Event):
    """A stop event whose wait() advances the fake clock instead of sleeping."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        self.clock.now += timedelta(seconds=timeout or 0)
        return self.is_set()


def scheduler(tmp_path: Path, schedules: dict[str, str], runner: Any, clock: Clock) -> Scheduler:
    settings = Settings(lake=str(tmp_path / "lake"), state_dir=str(tmp_path), schedules=schedules)
    return Scheduler(settings, runner=runner, now=clock)


def test_due_pipelines_run_in_time_order_and_off_is_never_run(tmp_path: Path) -> None:
    clock = Clock()
    runner = FakeRunner(clock, {})
    plan = {"totesys": "rate(5 minutes)", "smartsensor": "cron(0 2 * * ? *)", "shopease": "off"}
    plan |= {"retail_marts": "off", "weather_sales": "off"}
    scheduler(tmp_path, plan, runner, clock).run_forever(WaitingStop(clock), max_runs=4)
    names = [name for name, _ in runner.calls]
    assert names == ["totesys", "smartsensor", "totesys", "totesys"]
    assert runner.calls[1][1] == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert runner.calls[2][1] == T0 + timedelta(minutes=5, seconds=1)


def test_a_long_run_skips_missed_fires_instead_of_queueing_them(tmp_path: Path) -> None:
    clock = Clock()
    runner = FakeRunner(clock, {"totesys": timedelta(minutes=17)})
    plan = {name: "off" for name in ("shopease", "retail_marts", "weather_sales", "smartsensor")}
    sched = scheduler(tmp_path, plan | {"totesys": "rate(5 minutes)"}, runner, clock)
    sched.run_forever(WaitingStop(clock), max_runs=3)
    starts = [at for _, at in runner.calls]
    # Each run starts 5 minutes after the previous one ended: no burst of three missed fires.
    assert starts[1] - starts[0] == timedelta(minutes=22)
    assert starts[2] - starts[1] == timedelta(minutes=22)


def test_lease_held_elsewhere_and_failures_are_logged_and_the_schedule_goes_on(
    tmp_path: Path,
) -> None:
    clock = Clock()
    plan = {name: "off" for name in ("shopease", "retail_marts", "weather_sales", "smartsensor")}
    held = FakeRunner(clock, {}, fail=lambda name: LeaseHeld(name, "other-run", 30))
    outcomes = scheduler(tmp_path, plan | {"totesys": "rate(1 minute)"}, held, clock)
    results = outcomes.run_forever(WaitingStop(clock), max_runs=2)
    assert [o.status for o in results] == ["skipped", "skipped"]
    assert "lease held by run other-run" in results[0].detail
    broken = FakeRunner(clock, {}, fail=lambda name: SourceError("API down"))
    results = scheduler(tmp_path, plan | {"totesys": "rate(1 minute)"}, broken, clock).run_forever(
        WaitingStop(clock), max_runs=2
    )
    assert [o.status for o in results] == ["failed", "failed"] and "API down" in results[0].detail


def test_unknown_pipelines_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nonesuch"):
        scheduler(tmp_path, {"nonesuch": "rate(1 minute)"}, FakeRunner(Clock(), {}), Clock())


def test_sigterm_lets_the_current_run_finish_then_exits(tmp_path: Path) -> None:
    config = tmp_path / "strata.toml"
    config.write_text(
        "[profiles.dev.schedules]\n"
        'retail_marts = "rate(1 hour)"\n'
        "[profiles.dev.pipelines.retail_marts]\n"
        "big_file_rows = 2000\n"
    )
    env = {**os.environ, "STRATA_STATE_DIR": str(tmp_path / "state")}
    process = subprocess.Popen(
        [sys.executable, "-m", "strata", "schedule", "--lake", str(tmp_path / "lake")],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "lake" / "_runs").glob("*/*.json")):
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert ("start retail_marts" in err and "scheduler stopped: 1 succeeded" in err) or (
        "1 partial" in err
    ), err
