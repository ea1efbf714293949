"""SmartSensor (seed 001): check the API, extract a sensor grid, refine to silver, publish gold.

Fixes over the seed: one request per sensor for the whole date range instead of one per
sensor-day; regions that really group sensors; a null average is `unknown`, not `hot`;
per-sensor failures are reported and retried on the next run instead of vanishing; the
checkpoint commits with the data (bronze manifests, Delta app transactions), so a crash can
neither skip nor duplicate a day.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from strata.apis import DAILY_VARIABLES, open_meteo_server
from strata.errors import SourceError
from strata.pipelines.smartsensor.grid import Sensor, sensor_grid
from strata.runner import Pipeline, Retry, RunContext, Step, StepResult, model_step
from strata.runner.housekeeping import housekeeping_step
from strata.sources import Fetch, Fetched, RestSource, RetryPolicy

NAME = "smartsensor"
DESCRIPTION = "Open-Meteo-style weather for a sensor grid → silver readings → regional gold"
EMBEDDED = "embedded"
ARCHIVE = "/v1/archive"


class Options(BaseModel):
    """SmartSensor settings (`[profiles.<env>.pipelines.smartsensor]`, `STRATA_SMARTSENSOR__*`)."""

    model_config = ConfigDict(extra="forbid")

    api_url: str = EMBEDDED
    sensors: int = Field(100, ge=1, le=10_000)
    days: int = Field(365, ge=1)
    centre_lat: float = 52.3676
    centre_lon: float = 4.9041
    grid_span: float = 0.5
    region_size: int = Field(2, ge=1)
    lookback_days: int = Field(0, ge=0)
    concurrency: int = Field(16, ge=1)
    request_timeout: float = 30.0
    request_attempts: int = Field(5, ge=1)
    max_retry_after: float = 60.0
    check_retry_interval: float = 2.0
    check_max_attempts: int = 2
    check_backoff_rate: float = 2.0


def _base_url(ctx: RunContext, options: Options) -> str:
    """The API root; the embedded stand-in starts on first use and stops with the run."""
    if options.api_url != EMBEDDED:
        return options.api_url.rstrip("/")
    if "api_url" not in ctx.outputs:
        server = ctx.resources.enter_context(open_meteo_server())
        ctx.outputs["api_url"] = server.url
    return str(ctx.outputs["api_url"])


def _archive(ctx: RunContext, options: Options, concurrency: int = 1) -> RestSource:
    retry = RetryPolicy(attempts=options.request_attempts, max_delay=options.max_retry_after)
    return RestSource(
        _base_url(ctx, options) + ARCHIVE,
        name="weather API",
        concurrency=concurrency,
        timeout=options.request_timeout,
        retry=retry,
    )


def _params(sensor: Sensor, start: date, end: date) -> dict[str, Any]:
    return {
        "latitude": sensor.latitude,
        "longitude": sensor.longitude,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "daily": ",".join(DAILY_VARIABLES),
        "timezone": "UTC",
    }


def _window(ctx: RunContext, options: Options) -> tuple[date, date]:
    end = ctx.end_date or (datetime.now(UTC).date() - timedelta(days=1))
    start = ctx.start_date or end - timedelta(days=options.days - 1)
    if start > end:
        raise SourceError(f"start date {start} is after end date {end}")
    return start, end


def check(ctx: RunContext, options: Options) -> StepResult:
    """One small request; the result goes to bronze either way, and a failure stops the run."""
    sensor = _grid(options)[0]
    day = datetime.now(UTC).date() - timedelta(days=2)
    started = datetime.now(UTC)
    result: dict[str, Any] = {
        "checked_at": started.isoformat(),
        "run_id": ctx.run_id,
        "job_name": f"{NAME}-check",
    }
    try:
        body, response = _archive(ctx, options).get(_params(sensor, day, day))
        result |= {
            "status": "SUCCESS",
            "http_status": response.status_code,
            "latency_ms": round(response.elapsed.total_seconds() * 1000, 1),
            "rate_limit": {
                k: v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit")
            },
            "days_returned": len(body.get("daily", {}).get("time", [])),
        }
    except Exception as exc:
        result |= {"status": "FAILURE", "error": type(exc).__name__, "error_message": str(exc)}
        raise
    finally:
        data = (json.dumps(result) + "\n").encode()
        ctx.bronze("health_checks").write("result.json", data, fmt="jsonl", run_id=ctx.run_id)
    return StepResult(rows_out=1, metrics={"latency_ms": result["latency_ms"]})


def _grid(options: Options) -> list[Sensor]:
    return sensor_grid(
        options.sensors,
        options.centre_lat,
        options.centre_lon,
        options.grid_span,
        options.region_size,
    )


def last_extracted(ctx: RunContext) -> dict[str, date]:
    """Per sensor, the last date bronze holds (the extract checkpoint, from load manifests)."""
    last: dict[str, date] = {}
    for manifest in ctx.bronze("responses").loads():
        for sensor_id, (_, end) in manifest.source_position.get("sensors", {}).items():
            day = date.fromisoformat(end)
            if sensor_id not in last or day > last[sensor_id]:
                last[sensor_id] = day
    return last


def plan(ctx: RunContext, options: Options) -> list[tuple[Sensor, date, date]]:
    """What to fetch: per sensor, the days after its checkpoint (minus the lookback)."""
    start, end = _window(ctx, options)
    done = {} if ctx.full_refresh else last_extracted(ctx)
    todo = []
    for sensor in _grid(options):
        first = start
        if sensor.sensor_id in done:
            if done[sensor.sensor_id] >= end:
                continue
            first = max(start, done[sensor.sensor_id] + timedelta(days=1 - options.lookback_days))
        if first <= end:
            todo.append((sensor, first, end))
    return todo


def _line(sensor: Sensor, fetched: Fetched) -> str:
    return json.dumps(
        {
            "sensor_id": sensor.sensor_id,
            "region": sensor.region,
            "latitude": sensor.latitude,
            "longitude": sensor.longitude,
            "fetched_at": fetched.fetched_at,
            "response": fetched.body,
        }
    )


def extract(ctx: RunContext, options: Options) -> StepResult:
    """Fetch every planned sensor range concurrently and store the raw responses as one load."""
    todo = plan(ctx, options)
    if not todo:
        return StepResult(rows_out=0, metrics={"sensors_fetched": 0, "up_to_date": True})
    by_key = {sensor.sensor_id: (sensor, first, end) for sensor, first, end in todo}
    fetches = [Fetch(s.sensor_id, _params(s, a, b)) for s, a, b in todo]
    source = _archive(ctx, options, options.concurrency)
    with ctx.progress(f"extract {len(fetches)} sensors", len(fetches)) as bar:
        results = source.fetch_all(fetches, on_done=lambda _: bar.advance(bar.task_ids[0]))
    good = [r for r in results if r.ok]
    failed = {r.key: r.error or f"HTTP {r.status}" for r in results if not r.ok}
    if not good:
        sample = "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3])
        raise SourceError(f"no sensor could be fetched ({len(failed)} failed: {sample})")
    rows = sum(len(r.body.get("daily", {}).get("time", [])) for r in good)
    position = {
        "sensors": {
            r.key: [by_key[r.key][1].isoformat(), by_key[r.key][2].isoformat()] for r in good
        },
        "failed": failed,
    }
    data = "\n".join(_line(by_key[r.key][0], r) for r in good).encode() + b"\n"
    manifest = ctx.bronze("responses").write(
        "responses.jsonl", data, fmt="jsonl", run_id=ctx.run_id, source_position=position
    )
    warnings = [
        f"sensor {k} failed after retries ({v}); it is retried on the next run"
        for k, v in sorted(failed.items())
    ]
    return StepResult(
        rows_in=len(fetches),
        rows_out=rows,
        warnings=warnings,
        metrics={
            "sensors_fetched": len(good),
            "sensors_failed": len(failed),
            "load_id": manifest.load_id,
            "requests": sum(r.attempts for r in results),
            "failed_sensors": failed,
        },
    )


def build(options: BaseModel) -> Pipeline:
    """The SmartSensor pipeline for the given options."""
    assert isinstance(options, Options)
    check_retry = Retry(
        interval=options.check_retry_interval,
        max_attempts=options.check_max_attempts,
        backoff_rate=options.check_backoff_rate,
    )
    return Pipeline(
        name=NAME,
        description=DESCRIPTION,
        steps=[
            Step(
                "check",
                lambda ctx: check(ctx, options),
                retry=(check_retry,),
                description="one health request to the API; failure stops the run",
            ),
            Step(
                "extract",
                lambda ctx: extract(ctx, options),
                description="raw API responses for every sensor into bronze",
            ),
            model_step(
                "refine",
                "sensor_readings",
                description="typed, deduplicated, quality-checked silver readings",
            ),
            model_step(
                "publish",
                "regional_daily",
                "sensor_monthly",
                description="gold regional_daily and sensor_monthly",
            ),
            housekeeping_step(),
        ],
    )
