"""SmartSensor side by side: Strata's pipeline against the seed's approach, on one stub server.

    .venv/bin/python bench/smartsensor.py [--sensors 100] [--days 365] [--repeat 1] [--quick]

Both sides read the same embedded Open-Meteo stand-in (127.0.0.1) for the same sensor grid and
date window, and both end with N x D silver rows:

* strata: `run_pipeline("smartsensor")` into a fresh temporary lake (check, extract, refine,
  publish), on DuckDB.
* seed: what the seed's Glue job does (seed-specs section 2), with pandas standing in for Spark:
  one plain `requests.get` per (date, sensor), sequentially, with its retry loop and its
  `time.sleep(0.1)` every 10 sensor-days; the nine transformations; Parquet partitioned by dt.
  The sleeps are timed on their own so the table also shows the seed without them.

The last line on stdout is one JSON object with the timings, the ratio and whether the targets
(>= 20x faster than the seed approach, default run under 15 s) are met.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import requests
from _common import Result, emit_json, peak_rss_mb, print_results, ratio_of, timer, wide_console

from strata.apis import ARCHIVE_PATH, DAILY_VARIABLES, StubServer, open_meteo_server
from strata.config import load_settings
from strata.pipelines.smartsensor.grid import Sensor, sensor_grid
from strata.pipelines.smartsensor.pipeline import Options
from strata.session import query, run_pipeline

END_DATE = date(2025, 12, 31)
QUICK_SIZE = (10, 30)
TARGET_RATIO = 20.0
TARGET_STRATA_S = 15.0
SILVER_COUNT = "SELECT count(*) AS n FROM silver.smartsensor.sensor_readings"

# The seed's constants (src/glue_jobs/extract_job.py).
SEED_TIMEOUT_S = 30
SEED_MAX_RETRIES = 3
SEED_THROTTLE_EVERY = 10
SEED_THROTTLE_S = 0.1
SEED_RAW_COLUMNS = {
    "temperature_max": "temperature_2m_max",
    "temperature_min": "temperature_2m_min",
    "precipitation": "precipitation_sum",
}


@dataclass
class Measurement:
    """One run of one side."""

    seconds: float
    rows: int
    requests: int
    sleep_s: float = 0.0

    @property
    def awake_s(self) -> float:
        return self.seconds - self.sleep_s


@dataclass
class SeedStats:
    """What the seed's loop keeps track of, plus the time spent in `time.sleep`."""

    sleep_s: float = 0.0
    failed: list[dict[str, str]] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        with timer() as t:
            time.sleep(seconds)
        self.sleep_s += t.seconds


# --- strata --------------------------------------------------------------------------------


def bench_strata(
    server: StubServer, sensors: int, days: int, start: date, end: date
) -> Measurement:
    """One full pipeline run into a fresh lake; raises unless it succeeds with N x D rows."""
    with tempfile.TemporaryDirectory(prefix="strata-bench-") as tmp:
        options = {"api_url": server.url, "sensors": sensors, "days": days}
        settings = load_settings(
            profile="dev",
            dotenv=None,
            lake=tmp,
            state_dir=f"{tmp}/state",
            pipelines={"smartsensor": options},
        )
        before = server.request_count
        with timer() as t:
            record = run_pipeline("smartsensor", settings=settings, start_date=start, end_date=end)
        requests_made = server.request_count - before
        if record.status != "succeeded":
            raise RuntimeError(f"strata run {record.run_id} {record.status}: {record.error}")
        rows = int(query(SILVER_COUNT, settings).column("n")[0].as_py())
    _expect_rows("strata", rows, sensors * days)
    return Measurement(seconds=t.seconds, rows=rows, requests=requests_made)


# --- the seed's approach -------------------------------------------------------------------


def daterange(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def _first(daily: dict[str, Any], variable: str) -> float | None:
    """`daily[variable][0]` as a nullable double.

    The seed writes `float(daily[v][0]) if daily.get(v) else None`, which raises TypeError on a
    null value (the list `[None]` is truthy) and would abort the whole job; the stub serves
    about 0.2 % nulls, so this keeps the documented nullable schema instead.
    """
    values = daily.get(variable)
    value = values[0] if values else None
    return None if value is None else float(value)


def _raw_row(sensor: Sensor, day: date, daily: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "dt": day.isoformat(),
        "sensor_id": sensor.sensor_id,
        "region": sensor.region,
        "latitude": float(sensor.latitude),
        "longitude": float(sensor.longitude),
    }
    row |= {column: _first(daily, variable) for column, variable in SEED_RAW_COLUMNS.items()}
    row |= {
        "source": "open-meteo",
        "ingestion_timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat(),
    }
    return row


def seed_fetch(url: str, sensor: Sensor, day: date, stats: SeedStats) -> dict[str, Any] | None:
    """`fetch_weather_data_for_date`: one plain GET, <= 3 attempts, 429 sleeps Retry-After."""
    params = {
        "latitude": sensor.latitude,
        "longitude": sensor.longitude,
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
        "daily": ",".join(DAILY_VARIABLES),
        "timezone": "UTC",
    }
    for _ in range(SEED_MAX_RETRIES):
        try:
            response = requests.get(url, params=params, timeout=SEED_TIMEOUT_S)
            if response.status_code == 429:
                stats.sleep(int(response.headers.get("Retry-After", 60)))
                continue
            response.raise_for_status()
            return _raw_row(sensor, day, response.json().get("daily", {}))
        except requests.exceptions.RequestException:
            continue
    return None


def seed_extract(
    url: str,
    sensors: list[Sensor],
    start: date,
    end: date,
    stats: SeedStats,
    throttle: bool,
    progress: Callable[[int], None],
) -> list[dict[str, Any]]:
    """The seed's main loop: for each date, for each sensor, sequentially."""
    rows: list[dict[str, Any]] = []
    processed = 0
    for day in daterange(start, end):
        for sensor in sensors:
            processed += 1
            row = seed_fetch(url, sensor, day, stats)
            if row:
                rows.append(row)
            else:
                stats.failed.append({"date": day.isoformat(), "sensor_id": sensor.sensor_id})
            if throttle and processed % SEED_THROTTLE_EVERY == 0:
                stats.sleep(SEED_THROTTLE_S)
            progress(processed)
    if not rows:
        raise RuntimeError("No data fetched successfully")
    return rows


def _raw_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(rows)
    return df.astype({column: "float64" for column in SEED_RAW_COLUMNS})


def seed_transform(df: pd.DataFrame) -> pd.DataFrame:
    """`apply_transformations`, steps 1-9, in pandas."""
    df["temperature_max_f"] = df["temperature_max"] * 9 / 5 + 32
    df["temperature_min_f"] = df["temperature_min"] * 9 / 5 + 32
    df["temperature_range"] = df["temperature_max"] - df["temperature_min"]
    df["temperature_avg"] = (df["temperature_max"] + df["temperature_min"]) / 2
    avg, rain = df["temperature_avg"], df["precipitation"]
    # A null average fails every comparison and falls through to "hot", as in the seed.
    df["temp_category"] = np.select(
        [avg < 0, avg < 10, avg < 20, avg < 30], ["freezing", "cold", "mild", "warm"], default="hot"
    )
    df["precipitation_level"] = np.select(
        [rain.isna(), rain == 0, rain < 2.5, rain < 10, rain < 50],
        ["unknown", "none", "light", "moderate", "heavy"],
        default="extreme",
    )
    df["is_complete"] = df[list(SEED_RAW_COLUMNS)].notna().all(axis=1)
    df["data_quality_score"] = np.select([df["is_complete"], avg.notna()], [100, 75], default=25)
    df["processed_at"] = pd.Timestamp.now(tz="UTC")
    df["processing_version"] = "1.0"
    df = df.sort_values(["dt", "sensor_id", "ingestion_timestamp"], ascending=[True, True, False])
    df = df.drop_duplicates(["dt", "sensor_id"], keep="first").reset_index(drop=True)
    return _regional_aggregates(df)


def _regional_aggregates(df: pd.DataFrame) -> pd.DataFrame:
    """Step 9: avg / sum over the window (region, dt); Spark's sum of only nulls is null."""
    groups = df.groupby(["region", "dt"])
    df["region_avg_temp"] = groups["temperature_avg"].transform("mean")
    present = groups["precipitation"].transform("count") > 0
    df["region_total_precipitation"] = groups["precipitation"].transform("sum").where(present)
    return df


def seed_quality(df: pd.DataFrame) -> dict[str, float]:
    """`validate_data_quality`."""
    total, complete = len(df), int(df["is_complete"].sum())
    return {
        "total_rows": total,
        "complete_rows": complete,
        "completeness_rate": complete / total * 100 if total else 0.0,
        "null_temperature_count": int(df["temperature_avg"].isna().sum()),
        "null_precipitation_count": int(df["precipitation"].isna().sum()),
    }


def seed_write(df: pd.DataFrame, root: Path) -> None:
    """Snappy Parquet partitioned by dt: one file per day, like the seed's repartition."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_to_dataset(table, root_path=str(root), partition_cols=["dt"], compression="snappy")


def _progress_printer(total: int, label: str) -> Callable[[int], None]:
    step = max(1, total // 10)

    def report(done: int) -> None:
        if done % step == 0 or done == total:
            print(f"  {label}: {done:,}/{total:,} requests", file=sys.stderr, flush=True)

    return report


def bench_seed(
    server: StubServer, options: Options, start: date, end: date, throttle: bool
) -> Measurement:
    """The seed's whole job (grid, extract, transform, quality, write) against the stub."""
    total = options.sensors * ((end - start).days + 1)
    progress = _progress_printer(total, "seed approach")
    stats = SeedStats()
    before = server.request_count
    with tempfile.TemporaryDirectory(prefix="seed-bench-") as tmp, timer() as t:
        sensors = sensor_grid(
            options.sensors,
            options.centre_lat,
            options.centre_lon,
            options.grid_span,
            options.region_size,
        )
        rows = seed_extract(
            server.url + ARCHIVE_PATH, sensors, start, end, stats, throttle, progress
        )
        df = seed_transform(_raw_frame(rows))
        seed_quality(df)
        seed_write(df, Path(tmp) / "raw" / "openmeteo")
    if stats.failed:
        print(f"  seed approach: {len(stats.failed)} failed fetches", file=sys.stderr)
    _expect_rows("seed approach", len(df), total)
    return Measurement(
        seconds=t.seconds,
        rows=len(df),
        requests=server.request_count - before,
        sleep_s=stats.sleep_s,
    )


# --- reporting -----------------------------------------------------------------------------


def _expect_rows(side: str, rows: int, expected: int) -> None:
    if rows != expected:
        raise RuntimeError(f"{side}: {rows:,} silver rows, expected {expected:,}")


def _best(runs: list[Measurement]) -> Measurement:
    return min(runs, key=lambda m: m.seconds)


def report(
    sensors: int,
    days: int,
    repeat: int,
    throttle: bool,
    strata: Measurement,
    seed: Measurement,
    seed_awake_s: float,
) -> dict[str, Any]:
    """Print the table and the verdict; return the JSON payload."""
    ratio, ratio_awake = (
        ratio_of(seed.seconds, strata.seconds),
        ratio_of(seed_awake_s, strata.seconds),
    )
    met = ratio >= TARGET_RATIO and strata.seconds < TARGET_STRATA_S
    sleep_note = "" if throttle else " (--no-seed-sleep)"
    results = [
        Result("strata (duckdb)", strata.rows, strata.seconds, strata.requests),
        Result(
            f"seed approach (sequential requests + pandas){sleep_note}",
            seed.rows,
            seed.seconds,
            seed.requests,
        ),
        Result("seed approach without its sleeps", seed.rows, seed_awake_s, seed.requests),
    ]
    caption = (
        f"{sensors} sensors x {days} days, best of {repeat}; seed slept "
        f"{seed.sleep_s:.1f} s; peak RSS {peak_rss_mb():.0f} MiB"
    )
    console = wide_console()
    print_results("SmartSensor: strata vs the seed's approach", results, caption, console)
    console.print(
        f"ratio (seed / strata): {ratio:.1f}x; without the seed's sleeps: {ratio_awake:.1f}x"
    )
    console.print(
        f"target >= {TARGET_RATIO:g}x faster: {_verdict(ratio >= TARGET_RATIO)} "
        f"(without sleeps: {_verdict(ratio_awake >= TARGET_RATIO)}); "
        f"target strata < {TARGET_STRATA_S:g} s: "
        f"{_verdict(strata.seconds < TARGET_STRATA_S)}"
    )
    return {
        "benchmark": "smartsensor",
        "sensors": sensors,
        "days": days,
        "repeat": repeat,
        "rows": strata.rows,
        "strata_s": round(strata.seconds, 3),
        "seed_s": round(seed.seconds, 3),
        "seed_without_sleep_s": round(seed_awake_s, 3),
        "seed_sleep_s": round(seed.sleep_s, 3),
        "seed_sleep": throttle,
        "strata_requests": strata.requests,
        "seed_requests": seed.requests,
        "ratio": round(ratio, 2),
        "ratio_without_sleep": round(ratio_awake, 2),
        "target_ratio": TARGET_RATIO,
        "target_strata_s": TARGET_STRATA_S,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "met": met,
    }


def _verdict(ok: bool) -> str:
    return "[green]met[/green]" if ok else "[red]NOT met[/red]"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sensors", type=int, default=None, help="grid size (default 100)")
    parser.add_argument("--days", type=int, default=None, help="days in the window (default 365)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; the best counts")
    parser.add_argument(
        "--seed-sleep",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the seed's sleep(0.1) every 10 requests (default: on)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke size: {QUICK_SIZE[0]} sensors x {QUICK_SIZE[1]} days",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sensors, args.days = QUICK_SIZE
    args.sensors = args.sensors or 100
    args.days = args.days or 365
    if args.sensors < 1 or args.days < 1 or args.repeat < 1:
        parser.error("--sensors, --days and --repeat must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(sensors=args.sensors, days=args.days)
    start = END_DATE - timedelta(days=args.days - 1)
    with open_meteo_server() as server:
        strata_runs = [
            bench_strata(server, args.sensors, args.days, start, END_DATE)
            for _ in range(args.repeat)
        ]
        seed_runs = [
            bench_seed(server, options, start, END_DATE, args.seed_sleep)
            for _ in range(args.repeat)
        ]
    seed_awake_s = min(m.awake_s for m in seed_runs)
    payload = report(
        args.sensors,
        args.days,
        args.repeat,
        args.seed_sleep,
        _best(strata_runs),
        _best(seed_runs),
        seed_awake_s,
    )
    emit_json(payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
