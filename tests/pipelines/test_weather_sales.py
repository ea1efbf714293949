"""weather_sales end to end (issue 6 §5): generate → run → `strata worker --once` → PostgreSQL,
on a local lake and queue and on moto S3 + an SQS FIFO queue with a dead-letter queue; and the
pipeline's own behaviours: wrong-schema files to the error prefix, unchanged files skipped on a
rerun, a store whose weather fails kept (flagged) and filled in by the next run.

The worker's failure modes (duplicates, a kill mid-sync, schema change, poison messages, the
database down, SIGTERM) are in tests/test_worker.py, which uses the helpers defined here.

The comparisons are exact: the PostgreSQL table must equal the gold Delta table row for row and
value for value, read back independently of the worker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from strata.apis import StubServer
from strata.apis.openweather import WEATHER_PATH, current_weather_handler
from strata.config import Settings, load_settings
from strata.db import DatabaseUrl
from strata.lake.delta import DeltaTableIO
from strata.pipelines import get_pipeline
from strata.pipelines.weather_sales import generate as source
from strata.pipelines.weather_sales import pipeline as ws
from strata.queues import Queue, ensure_queue
from strata.runner import RunRecord
from strata.session import open_lake, run_pipeline
from strata.sinks import open_warehouse
from strata.testing import assert_same_rows
from strata.worker import Target, Worker

DAYS = [date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3)]
ROWS = 2000  # per day
KEY = ["date_key", "transaction_id"]
TABLE = ws.GOLD_TABLE
VISIBILITY = 2  # seconds: the queue's visibility timeout (and the worker's)
MAX_RECEIVES = 2


def _toml(section: str, values: dict[str, Any]) -> str:
    # JSON strings, numbers and booleans are valid TOML values.
    return f"[{section}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


@dataclass
class WeatherSales:
    """One weather_sales setup: settings written to a strata.toml (so a `strata` subprocess
    sees exactly what the test sees), the source folder, the PostgreSQL warehouse."""

    root: Path
    pg_url: str
    kind: str  # local | aws
    top: dict[str, Any]
    pipeline: dict[str, Any]
    settings: Settings = field(init=False)

    def __post_init__(self) -> None:
        self.configure()

    @property
    def config(self) -> Path:
        return self.root / "strata.toml"

    @property
    def source(self) -> Path:
        return Path(self.pipeline["source_folder"])

    def configure(self, **options: Any) -> Settings:
        """Rewrite strata.toml with `options` changed and reload the settings."""
        self.pipeline.update(options)
        self.config.write_text(
            _toml("profiles.dev", self.top)
            + _toml("profiles.dev.pipelines.weather_sales", self.pipeline)
        )
        self.settings = load_settings(profile="dev", config_file=self.config, dotenv=None)
        return self.settings

    @property
    def options(self) -> ws.Options:
        parsed = get_pipeline("weather_sales").options(
            self.settings.pipeline_options("weather_sales")
        )
        assert isinstance(parsed, ws.Options)
        return parsed

    def queue(self) -> Queue:
        return ws.queue(self.settings, self.options)

    def run(self, *, steps: list[str] | None = None) -> RunRecord:
        record = run_pipeline("weather_sales", settings=self.settings, steps=steps)
        assert record.status in ("succeeded", "partial"), record.error
        return record

    def worker(self, queue: Queue, url: str | None = None, **kwargs: Any) -> Worker:
        target = Target(DatabaseUrl.parse(url or self.pg_url), "public")
        kwargs = {"wait_seconds": 0, "visibility_timeout": VISIBILITY, **kwargs}
        return Worker(self.settings, queue, lambda _: target, **kwargs)

    def gold_table(self) -> DeltaTableIO:
        model = get_pipeline("weather_sales").models()[TABLE]
        return DeltaTableIO(open_lake(self.settings), model.table_path)

    def gold(self, version: int | None = None) -> pa.Table:
        return self.gold_table().read(version)

    def warehouse(self) -> pa.Table:
        with open_warehouse(self.pg_url, schema="public") as wh:
            return wh.read(f"SELECT * FROM public.{TABLE}")

    def sql(self, query: str) -> list[dict[str, Any]]:
        with open_warehouse(self.pg_url, schema="public") as wh:
            return wh.read(query).to_pylist()

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a `strata` subprocess: this setup's strata.toml, dev profile."""
        return {**os.environ, "STRATA_CONFIG": str(self.config), "STRATA_ENV": "dev", **extra}

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`strata ARGS` in a subprocess (the real command line), stderr captured."""
        return subprocess.run(
            [sys.executable, "-m", "strata", *args],
            env=self.env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def make_setup(
    root: Path,
    pg_url: str,
    kind: str = "local",
    request: pytest.FixtureRequest | None = None,
    days: int = len(DAYS),
    **options: Any,
) -> WeatherSales:
    """Generated sales for `days` days ending 2024-07-03, on a local lake and queue, or (kind
    "aws") on a moto S3 lake and a fresh SQS FIFO queue whose DLQ takes a message after
    MAX_RECEIVES receives."""
    folder = root / "src"
    source.generate(folder, days=days, end=DAYS[-1], rows_per_day=ROWS)
    top: dict[str, Any] = {"lake": str(root / "lake"), "state_dir": str(root / "state")}
    pipeline: dict[str, Any] = {
        "source_folder": str(folder),
        "warehouse_url": pg_url,
        "visibility_timeout": VISIBILITY,
        "max_receives": MAX_RECEIVES,
        "request_attempts": 1,
    }
    if kind == "aws":
        assert request is not None
        endpoint = request.getfixturevalue("aws_env")
        bucket = request.getfixturevalue("s3_bucket")
        name = f"ws-{uuid.uuid4().hex[:10]}"  # moto lives for the session: a queue per test
        pipeline["queue_url"] = ensure_queue(
            f"{name}.fifo",
            fifo=True,
            dlq_name=f"{name}-dlq.fifo",
            max_receives=MAX_RECEIVES,
            visibility_timeout=VISIBILITY,
            endpoint_url=endpoint,
            region="eu-central-1",
        )
        top |= {
            "lake": f"s3://{bucket}/lake",
            "s3_endpoint_url": endpoint,
            "aws_endpoint_url": endpoint,
        }
    pipeline |= options
    return WeatherSales(root, pg_url, kind, top, pipeline)


@pytest.fixture(params=["local", "aws"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> WeatherSales:
    return make_setup(tmp_path, pg_url, request.param, request)


def assert_postgres_equals_gold(setup: WeatherSales) -> pa.Table:
    """PostgreSQL's table holds exactly gold's rows (every column, exact values), each once,
    keyed by the model's unique key. Returns the PostgreSQL rows."""
    want, got = setup.gold(), setup.warehouse()
    assert want.num_rows > 0
    assert_same_rows(got, want, KEY, rel=0)
    keys = got.select(KEY).to_pylist()
    assert len({(k["date_key"], k["transaction_id"]) for k in keys}) == got.num_rows
    return got


def primary_key(setup: WeatherSales) -> list[str]:
    rows = setup.sql(
        "SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a "
        "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        f"WHERE i.indrelid = 'public.{TABLE}'::regclass AND i.indisprimary ORDER BY a.attname"
    )
    return [r["name"] for r in rows]


def raw_name(day: date) -> str:
    """Where a day's sales file lands in the raw zone."""
    return f"raw/sales/date_key={day}/sales_data_{day:%Y%m%d}.csv"


def rows_per_day(table: pa.Table) -> dict[date, int]:
    counts = pc.value_counts(table["date_key"]).to_pylist()
    return {c["values"]: c["counts"] for c in counts}


# -- 1. generate → run → worker --once → PostgreSQL == gold ------------------------------------


def test_generate_run_and_worker_once_put_exactly_gold_into_postgres(
    setup: WeatherSales,
) -> None:
    record = setup.run()
    assert record.status == "succeeded", record.metrics.get("warnings")
    assert record.metrics["notify"]["messages"] == len(DAYS)
    assert record.metrics["notify"]["days"] == [d.isoformat() for d in DAYS]
    assert rows_per_day(setup.gold()) == dict.fromkeys(DAYS, ROWS)

    # The real command line, configured only through strata.toml (queue, lake, warehouse).
    done = setup.cli("worker", "weather_sales", "--once", "--wait", "0")
    assert done.returncode == 0, done.stderr
    assert "worker stopped: 3 synced, 0 to retry, 0 malformed" in done.stderr

    got = assert_postgres_equals_gold(setup)
    assert rows_per_day(got) == dict.fromkeys(DAYS, ROWS)
    assert primary_key(setup) == sorted(KEY)
    with setup.queue() as queue:
        assert queue.depth(in_flight=True) == 0
        assert queue.dead_letters() == []

    # Nothing new: a second run announces nothing and the worker finds nothing.
    again = setup.run()
    assert again.metrics["notify"]["messages"] == 0
    with setup.queue() as queue:
        assert setup.worker(queue).run(once=True).handled == []


# -- 8. the pipeline's own behaviours ---------------------------------------------------------


def test_wrong_schema_files_go_to_the_error_prefix_and_the_good_days_go_on(
    tmp_path: Path, pg_url: str
) -> None:
    setup = make_setup(tmp_path, pg_url)
    bad = {
        "extra": date(2024, 7, 4),
        "missing": date(2024, 7, 5),
        "reordered": date(2024, 7, 6),
    }
    for kind, day in bad.items():
        name, body = source.wrong_schema_file(day, kind)
        (setup.source / name).write_bytes(body)

    record = setup.run()
    assert record.status == "partial"
    land = record.metrics["land"]
    assert sorted(land["loaded"]) == [raw_name(d) for d in DAYS]
    rejected = land["rejected"]
    assert sorted(rejected) == [raw_name(d) for d in bad.values()]
    assert len(record.metrics["warnings"]) == 3

    lake = open_lake(setup.settings)
    for kind, day in bad.items():
        file = f"sales_data_{day:%Y%m%d}.csv"
        # Gone from the incoming prefix (so no weather is fetched for that day) ...
        assert lake.list_files(f"raw/sales/date_key={day}", recursive=True) == []
        # ... and in the error prefix, with its reason beside it.
        errors = lake.list_files("raw/error/sales", recursive=True)
        moved = [f for f in errors if f.endswith(file)]
        assert len(moved) == 1, errors
        reason = lake.read_bytes(f"raw/error/sales/{moved[0]}.reason.txt").decode()
        if kind == "extra":
            assert "payment_method" in reason and "payment_method" in rejected[raw_name(day)]
        elif kind == "missing":
            assert "units_sold" in reason and "units_sold" in rejected[raw_name(day)]
        else:  # the right columns in the wrong order: the gate wants the exact order
            assert "order" in reason.lower(), reason

    assert record.metrics["weather"]["fetched"] == 10 * len(DAYS)  # ten stores, good days only
    assert rows_per_day(setup.gold()) == dict.fromkeys(DAYS, ROWS)
    assert record.metrics["notify"]["days"] == [d.isoformat() for d in DAYS]

    # A rerun does not upload the rejected bytes again (no second copy in the error prefix) ...
    again = setup.run()
    assert again.metrics["upload"]["uploaded"] == []
    assert sorted(again.metrics["upload"]["rejected_before"]) == sorted(
        source.wrong_schema_file(d, k)[0] for k, d in bad.items()
    )
    assert len(lake.list_files("raw/error/sales", recursive=True)) == 2 * len(bad)
    # ... and a corrected file goes through.
    fixed = bad["extra"]
    name, _ = source.wrong_schema_file(fixed, "extra")
    (setup.source / name).write_bytes(source.sales_csv(fixed, 100))
    third = setup.run()
    assert third.metrics["upload"]["uploaded"] == [raw_name(fixed)]
    assert rows_per_day(setup.gold())[fixed] == 100


def test_a_rerun_with_unchanged_files_uploads_and_ingests_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    setup = make_setup(tmp_path, pg_url)
    first = setup.run()
    assert sorted(first.metrics["upload"]["uploaded"]) == sorted(
        [f"raw/master/{name}" for name in ws.MASTER_FILES] + [raw_name(d) for d in DAYS]
    )
    version = setup.gold_table().version()

    again = setup.run()
    assert again.status == "succeeded"
    assert again.metrics["upload"]["uploaded"] == []
    assert again.metrics["upload"]["skipped"] == 2 + len(DAYS)
    assert again.metrics["land"]["loaded"] == {}
    assert again.metrics["weather"]["fetched"] == 0
    assert again.metrics["notify"]["messages"] == 0
    assert setup.gold_table().version() == version

    # A touched file with the same bytes is still the same file; one with new bytes is not.
    day = DAYS[-1]
    path = setup.source / source.sales_file_name(day)
    path.write_bytes(path.read_bytes())
    assert setup.run().metrics["upload"]["uploaded"] == []
    path.write_bytes(source.sales_csv(day, ROWS, seed=7, first_id=2 * ROWS + 1))
    changed = setup.run()
    assert changed.metrics["upload"]["uploaded"] == [raw_name(day)]
    assert changed.metrics["notify"]["days"] == [day.isoformat()]


class OneStoreDown:
    """The OpenWeatherMap stand-in, answering 503 for one store on one day while `down`."""

    def __init__(self, latitude: float, day: date) -> None:
        self.latitude, self.day, self.down = latitude, day.isoformat(), True
        self.failed = 0

    def __call__(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        lat, day = query.get("lat", ["nan"])[0], query.get("date", [""])[0]
        if self.down and float(lat) == self.latitude and day == self.day:
            self.failed += 1
            return 503, {"cod": "503", "message": "down for this store"}
        return current_weather_handler(query)


def test_a_store_without_weather_keeps_its_sales_flagged_until_the_next_run(
    tmp_path: Path, pg_url: str
) -> None:
    store = source.STORES[2]  # S03, Hat Yai
    day = DAYS[1]
    api = OneStoreDown(store.latitude, day)
    with StubServer({WEATHER_PATH: api}) as server:
        setup = make_setup(tmp_path, pg_url, api_url=server.url)
        first = setup.run()
        assert api.failed == 1
        assert first.status == "partial"
        assert list(first.metrics["weather"]["failed"]) == [f"{store.store_id}/{day}"]
        assert any(store.store_id in w for w in first.metrics["warnings"])

        gold = setup.gold()
        missing = pc.invert(gold["has_weather"])
        flagged = gold.filter(missing)
        # Exactly that store's sales that day are kept, flagged, without weather values.
        assert flagged.num_rows > 0
        assert set(flagged["store_id"].to_pylist()) == {store.store_id}
        assert set(flagged["date_key"].to_pylist()) == {day}
        assert flagged["temperature_celsius"].null_count == flagged.num_rows
        same = gold.filter(
            pc.and_(pc.equal(gold["store_id"], store.store_id), pc.equal(gold["date_key"], day))
        )
        assert same.num_rows == flagged.num_rows
        assert rows_per_day(gold) == dict.fromkeys(DAYS, ROWS)

        with setup.queue() as queue:
            assert setup.worker(queue).run(once=True).count("synced") == len(DAYS)
        got = assert_postgres_equals_gold(setup)
        assert pc.sum(pc.invert(got["has_weather"])).as_py() == flagged.num_rows

        api.down = False
        second = setup.run()
    assert second.status == "succeeded"
    assert second.metrics["weather"]["fetched"] == 1  # only the store-day that failed
    assert second.metrics["notify"]["days"] == [day.isoformat()]  # a new message for that day
    filled = setup.gold()
    assert pc.all(filled["has_weather"]).as_py()
    assert filled["temperature_celsius"].null_count == 0
    with setup.queue() as queue:
        assert setup.worker(queue).run(once=True).count("synced") == 1
    got = assert_postgres_equals_gold(setup)
    assert pc.all(got["has_weather"]).as_py()
