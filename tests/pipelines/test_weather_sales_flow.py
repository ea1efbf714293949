"""weather_sales end to end: generate → run → queue → worker → PostgreSQL, on the local lake
and queue and on moto S3 + SQS; duplicates, crashes, schema change, poison messages, database
down, SIGTERM, a wrong file, and a weather API that fails for some stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from strata.apis import Faults
from strata.apis.openweather import openweather_server
from strata.config import Settings, load_settings
from strata.db import DatabaseUrl
from strata.errors import WarehouseError
from strata.lake.delta import DeltaTableIO
from strata.pipelines import get_pipeline
from strata.pipelines.weather_sales import generate as source
from strata.pipelines.weather_sales import pipeline as ws
from strata.queues import Message, Queue, ensure_queue
from strata.session import open_lake, run_pipeline
from strata.sinks import open_warehouse
from strata.worker import Target, Worker

END = date(2024, 7, 2)
GOLD = "gold/weather_sales/fact_daily_sales_weather"


def make(tmp_path: Path, pg_url: str, **options: Any) -> Settings:
    folder = tmp_path / "src"
    if not folder.exists():
        source.generate(folder, days=2, end=END, rows_per_day=1500)
    config = tmp_path / "strata.toml"
    config.touch()
    values = {"source_folder": str(folder), "warehouse_url": pg_url, "visibility_timeout": 2}
    extra = {
        k: options.pop(k) for k in ("lake", "s3_endpoint_url", "aws_endpoint_url") if k in options
    }
    return load_settings(
        profile="dev",
        config_file=config,
        dotenv=None,
        lake=extra.pop("lake", str(tmp_path / "lake")),
        state_dir=str(tmp_path / "state"),
        pipelines={"weather_sales": {**values, **options}},
        **extra,
    )


def run(settings: Settings) -> Any:
    record = run_pipeline("weather_sales", settings=settings)
    assert record.status in ("succeeded", "partial"), record.error
    return record


def options(settings: Settings) -> ws.Options:
    parsed = get_pipeline("weather_sales").options(settings.pipeline_options("weather_sales"))
    assert isinstance(parsed, ws.Options)
    return parsed


def worker(
    settings: Settings, queue: Queue, url: str | None = None, concurrency: int = 2
) -> Worker:
    target = Target(DatabaseUrl.parse(url or options(settings).warehouse_url), "public")
    return Worker(
        settings,
        queue,
        lambda _: target,
        wait_seconds=0,
        visibility_timeout=2,
        concurrency=concurrency,
    )


def gold(settings: Settings) -> pa.Table:
    return DeltaTableIO(open_lake(settings), GOLD).read()


def warehouse_rows(pg_url: str) -> pa.Table:
    with open_warehouse(pg_url, schema="public") as wh:
        return wh.read("SELECT * FROM public.fact_daily_sales_weather")


def assert_synced(settings: Settings, pg_url: str) -> None:
    want, got = gold(settings), warehouse_rows(pg_url)
    assert got.num_rows == want.num_rows > 0
    keys = {
        (r["date_key"], r["transaction_id"])
        for r in got.select(["date_key", "transaction_id"]).to_pylist()
    }
    assert len(keys) == got.num_rows  # one copy of every row
    assert pc.sum(got["sales_amount"]).as_py() == pc.sum(want["sales_amount"]).as_py()


@pytest.fixture(params=["local", "aws"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Settings:
    if request.param == "local":
        return make(tmp_path, pg_url)
    endpoint = request.getfixturevalue("aws_env")
    bucket = request.getfixturevalue("s3_bucket")
    url = ensure_queue(
        "ws-export.fifo",
        dlq_name="ws-export-dlq.fifo",
        max_receives=2,
        visibility_timeout=2,
        endpoint_url=endpoint,
        region="eu-central-1",
    )
    return make(
        tmp_path,
        pg_url,
        lake=f"s3://{bucket}/lake",
        s3_endpoint_url=endpoint,
        aws_endpoint_url=endpoint,
        queue_url=url,
    )


def test_run_then_worker_puts_gold_into_postgres_once(setup: Settings, pg_url: str) -> None:
    record = run(setup)
    assert record.metrics["notify"]["messages"] == 2
    with ws.queue(setup, options(setup)) as queue:
        stats = worker(setup, queue).run(once=True)
        assert stats.count("synced") == 2
        assert_synced(setup, pg_url)
        # A redelivered (or resent) message changes nothing.
        body = {"layer": "GOLD", "pipeline": "weather_sales", "table": "fact_daily_sales_weather"}
        body |= {"date_key": "2024-07-02", "version": 0}
        queue.send(json.dumps(body), group_id="g", dedup_id="again")
        assert worker(setup, queue).run(once=True).count("synced") == 1
        assert_synced(setup, pg_url)
        assert queue.depth() == 0
    # A second run with nothing new announces nothing.
    assert run(setup).metrics["notify"]["messages"] == 0


def test_a_worker_dying_before_or_after_the_commit_leaves_one_copy(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make(tmp_path, pg_url)
    run(settings)
    real_sync = Worker.sync

    def dies_after_commit(self: Worker, change: Any) -> Any:
        real_sync(self, change)
        raise SystemExit("killed after the commit, before the delete")

    with ws.queue(settings, options(settings)) as queue:
        monkeypatch.setattr(Worker, "sync", dies_after_commit)
        with pytest.raises(SystemExit):
            worker(settings, queue, concurrency=1).run(once=True)
        monkeypatch.setattr(Worker, "sync", real_sync)
        assert warehouse_rows(pg_url).num_rows == 1500  # one day committed
        time.sleep(2.2)  # the dead worker's message becomes visible again
        assert worker(settings, queue).run(once=True).count("synced") == 2
        assert_synced(settings, pg_url)


def test_a_new_gold_column_reaches_postgres_with_old_rows_intact(
    tmp_path: Path, pg_url: str
) -> None:
    settings = make(tmp_path, pg_url)
    run(settings)
    with ws.queue(settings, options(settings)) as queue:
        worker(settings, queue).run(once=True)
        table = DeltaTableIO(open_lake(settings), GOLD)
        day = gold(settings).filter(pc.field("date_key") == pa.scalar(END))
        widened = day.append_column("feels_hot", pc.greater(day["temperature_celsius"], 30))
        table.replace_partitions(widened, ["date_key"])
        body = {"layer": "GOLD", "pipeline": "weather_sales", "table": "fact_daily_sales_weather"}
        body |= {"date_key": END.isoformat(), "version": table.version()}
        queue.send(json.dumps(body), group_id="g")
        assert worker(settings, queue).run(once=True).count("synced") == 1
    rows = warehouse_rows(pg_url)
    assert "feels_hot" in rows.column_names and rows.num_rows == 3000
    by_day = {d: [] for d in (date(2024, 7, 1), END)}
    for r in rows.select(["date_key", "feels_hot"]).to_pylist():
        by_day[r["date_key"]].append(r["feels_hot"])
    assert set(by_day[date(2024, 7, 1)]) == {None}  # old rows kept, new column empty
    assert None not in set(by_day[END])


def test_a_malformed_message_is_dead_lettered_and_good_ones_still_flow(
    tmp_path: Path, pg_url: str
) -> None:
    settings = make(tmp_path, pg_url, max_receives=2)
    run(settings)
    with ws.queue(settings, options(settings)) as queue:
        queue.send("this is not JSON", group_id="poison")
        queue.send(json.dumps({"layer": "SILVER"}), group_id="poison2")
        stats = worker(settings, queue).run(once=True)
        assert stats.count("synced") == 2 and stats.count("malformed") >= 2
        dead = queue.dead_letters()
        assert sorted(m.body for m in dead) == sorted(['{"layer": "SILVER"}', "this is not JSON"])
    assert_synced(settings, pg_url)


def test_database_down_keeps_the_message_until_it_is_back(tmp_path: Path, pg_url: str) -> None:
    settings = make(tmp_path, pg_url)
    run(settings)
    closed = "postgresql://postgres@127.0.0.1:9/nowhere"
    with ws.queue(settings, options(settings)) as queue:
        down = worker(settings, queue, url=closed)
        down.retry_delay = 0.1
        first: list[Message] = queue.receive(max_messages=1, wait_seconds=0)
        handled = down.handle(first[0])
        assert handled.status == "retry" and "127.0.0.1" in handled.detail
        assert queue.depth(in_flight=True) == 2  # nothing deleted
        time.sleep(0.5)
        assert worker(settings, queue).run(once=True).count("synced") == 2
    assert_synced(settings, pg_url)


def test_sigterm_finishes_and_exits_cleanly(tmp_path: Path, pg_url: str) -> None:
    settings = make(tmp_path, pg_url)
    run(settings)
    env = {**os.environ, "STRATA_WEATHER_SALES__WAREHOUSE_URL": pg_url}
    env["STRATA_WEATHER_SALES__SOURCE_FOLDER"] = str(tmp_path / "src")
    command = [sys.executable, "-m", "strata", "worker", "weather_sales", "--wait", "1"]
    command += ["--lake", settings.lake]
    env["STRATA_STATE_DIR"] = str(settings.state_path)
    worker_process = subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    deadline = time.time() + 60
    while time.time() < deadline and warehouse_count(pg_url) < 3000:
        time.sleep(0.3)
    worker_process.send_signal(signal.SIGTERM)
    _, err = worker_process.communicate(timeout=30)
    assert worker_process.returncode == 0, err
    assert "worker stopped: 2 synced" in err


def warehouse_count(pg_url: str) -> int:
    try:
        return warehouse_rows(pg_url).num_rows
    except WarehouseError:
        return 0
    except Exception:  # the table does not exist yet
        return 0


def test_a_wrong_file_goes_to_the_error_prefix_and_the_rest_goes_on(
    tmp_path: Path, pg_url: str
) -> None:
    settings = make(tmp_path, pg_url)
    name, body = source.wrong_schema_file(date(2024, 7, 3), "extra")
    (tmp_path / "src" / name).write_bytes(body)
    record = run(settings)
    assert record.status == "partial"
    rejected = record.metrics["land"]["rejected"]
    assert len(rejected) == 1 and "extra [" in next(iter(rejected.values()))
    lake = open_lake(settings)
    errors = lake.list_files("raw/error/sales", recursive=True)
    reason = [f for f in errors if f.endswith(".reason.txt")]
    assert reason and "missing" in lake.read_bytes(f"raw/error/sales/{reason[0]}").decode()
    assert gold(settings).num_rows == 3000  # the two good days
    again = run(settings)
    assert again.metrics["upload"]["skipped"] == 4  # unchanged files are not uploaded again


def test_weather_failures_keep_sales_flagged_until_a_later_run_fills_them(
    tmp_path: Path, pg_url: str
) -> None:
    flaky = Faults(rate_5xx=0.5, seed=3)
    with openweather_server(faults=flaky) as api:
        settings = make(tmp_path, pg_url, api_url=api.url, request_attempts=1)
        record = run(settings)
    failed = record.metrics["weather"]["failed"]
    assert failed and record.status == "partial"
    flagged = gold(settings).filter(pc.invert(pc.field("has_weather")))
    assert flagged.num_rows > 0
    with openweather_server() as api:
        healthy = make(tmp_path, pg_url, api_url=api.url)
        again = run(healthy)
    assert again.metrics["weather"]["fetched"] == len(failed)
    assert pc.all(gold(healthy)["has_weather"]).as_py()
    assert again.metrics["notify"]["messages"] >= 1


def test_messages_about_one_day_stay_in_order_in_one_lane() -> None:
    from strata.worker import _lanes

    def message(n: int, day: str, version: int) -> Message:
        body = {"layer": "GOLD", "pipeline": "weather_sales", "table": "t"}
        body |= {"date_key": day, "version": version}
        return Message(str(n), json.dumps(body), f"r{n}", 1, "g", {})

    poison = Message("p", "not JSON", "rp", 1, "g", {})
    first, second = message(1, "2024-07-01", 3), message(2, "2024-07-02", 3)
    lanes = _lanes([first, second, message(3, "2024-07-01", 4), poison])
    assert [[m.id for m in lane] for lane in lanes] == [["1", "3"], ["2"], ["p"]]
