"""`strata worker` against a real PostgreSQL (issue 6 §5): duplicates, a worker killed in the
middle of a sync, a new gold column, poison messages, the database down or dropping the
connection mid-sync, and SIGTERM — on the local queue and, where the queue's own semantics
matter (redelivery, redrive to the dead-letter queue), on a moto SQS FIFO queue with a DLQ.

The subprocess tests are made deterministic by a test-only hook (HOOK below) that runs the
real `strata` command line with `Worker._progress` wrapped: once a sync has streamed all its
rows into the COPY, the hook writes a marker file and holds the COPY open (the transaction
uncommitted) until the worker has been asked to stop. The test then knows, without sleeping,
that the sync is in flight: the marker exists and PostgreSQL shows the COPY.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as pg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from strata.queues import Message, Queue, open_queue
from strata.testing import assert_same_rows
from strata.worker import Worker
from tests.conftest import free_port, make_settings
from tests.pipelines.test_weather_sales import (
    DAYS,
    KEY,
    MAX_RECEIVES,
    ROWS,
    TABLE,
    WeatherSales,
    assert_postgres_equals_gold,
    make_setup,
    rows_per_day,
)

HOOK = """
import os, sys
from pathlib import Path

import strata.worker

marker = Path(os.environ["STRATA_TEST_HOOK_MARKER"])
real = strata.worker.Worker._progress


def held(self, reader, total, label):
    yield from real(self, reader, total, label)
    # Every row is in the COPY; the transaction stays open until the worker is told to stop
    # (SIGTERM) - or forever, until SIGKILL.
    ready = marker.with_suffix(".tmp")
    ready.write_text(label)
    ready.replace(marker)
    self.stop.wait(120)


strata.worker.Worker._progress = held
sys.argv[0] = "strata"
from strata.cli import main

main()
"""


@pytest.fixture(params=["local", "aws"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> WeatherSales:
    return make_setup(tmp_path, pg_url, request.param, request)


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def copies_running(pg_url: str) -> list[int]:
    """Backends of the test database in the middle of a COPY (fresh, not a cached snapshot)."""
    with pg.connect(pg_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query ILIKE 'COPY%' AND state = 'active'"
        )
        return [row[0] for row in cur.fetchall()]


def terminate(pg_url: str, pids: list[int]) -> None:
    """Kill the backends `pids` (as a database restart would) and wait until they are gone."""
    with pg.connect(pg_url, autocommit=True) as conn, conn.cursor() as cur:
        for pid in pids:
            cur.execute(f"SELECT pg_terminate_backend({int(pid)})")
            cur.fetchall()

        def gone() -> bool:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity "
                f"WHERE pid IN ({', '.join(str(int(p)) for p in pids)})"
            )
            return cur.fetchall()[0][0] == 0

        wait_for(gone, 10, "the terminated backends to exit")


def start_held_worker(setup: WeatherSales, *args: str) -> tuple[subprocess.Popen[str], Path]:
    """`strata worker weather_sales ARGS` through HOOK; returns the process and its marker."""
    hook = setup.root / "held_worker.py"
    hook.write_text(HOOK)
    marker = setup.root / "sync-in-flight"
    process = subprocess.Popen(
        [sys.executable, str(hook), "worker", "weather_sales", *args],
        env=setup.env(STRATA_TEST_HOOK_MARKER=str(marker)),
        cwd=setup.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, marker


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Subprocesses a test started, killed (by their own handle) if the test left them."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def receive_all(queue: Queue, count: int) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + 10
    while len(got) < count and time.monotonic() < deadline:
        got += queue.receive(max_messages=count - len(got), wait_seconds=0.5, visibility_timeout=30)
    assert len(got) == count, got
    return got


def announce(queue: Queue, day: Any, version: int, dedup: str) -> None:
    body = {"status": "READY", "layer": "GOLD", "pipeline": "weather_sales", "table": TABLE}
    body |= {"date_key": str(day), "version": version, "run_id": "test"}
    queue.send(json.dumps(body), group_id="weather_sales_export_group", dedup_id=dedup)


def sorted_rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.sort_by([(k, "ascending") for k in KEY]).to_pylist()


# -- 2. duplicate delivery ----------------------------------------------------------------------


def test_a_message_delivered_again_changes_nothing(tmp_path: Path, pg_url: str) -> None:
    # Local queue only: SQS redelivery is exercised by the kill test on both backends.
    setup = make_setup(tmp_path, pg_url)
    setup.run()
    with setup.queue() as queue:
        worker = setup.worker(queue)
        first = receive_all(queue, len(DAYS))
        # The first delivery of the first message syncs, but its delete is lost (a crash, a
        # network error): the queue hands it out again.
        queue_delete = queue.delete
        queue.delete = lambda message: None
        assert worker.handle(first[0]).status == "synced"
        queue.delete = queue_delete
        for message in first[1:]:
            assert worker.handle(message).status == "synced"
        assert queue.depth(in_flight=True) == 1
        synced = sorted_rows(assert_postgres_equals_gold(setup))

        queue.release(first[0])
        (again,) = receive_all(queue, 1)
        assert again.body == first[0].body and again.receive_count == 2
        assert worker.handle(again).status == "synced"
        assert sorted_rows(setup.warehouse()) == synced

        # The same announcements sent again as new messages (a notify step run twice with a
        # fresh deduplication id): synced again, nothing changes.
        for n, message in enumerate(first):
            queue.send(message.body, group_id="weather_sales_export_group", dedup_id=f"again-{n}")
        stats = worker.run(once=True)
        assert stats.count("synced") == len(DAYS)
        assert queue.depth(in_flight=True) == 0
    assert sorted_rows(setup.warehouse()) == synced
    assert rows_per_day(setup.warehouse()) == dict.fromkeys(DAYS, ROWS)


def test_notify_run_twice_is_deduplicated_and_changes_nothing(tmp_path: Path, pg_url: str) -> None:
    setup = make_setup(tmp_path, pg_url)
    setup.run()
    with setup.queue() as queue:
        assert setup.worker(queue).run(once=True).count("synced") == len(DAYS)
    synced = sorted_rows(setup.warehouse())
    # Forget what was announced: notify sends every day again, with the same deduplication
    # ids (table, day, version), which the FIFO queue drops within its window.
    from strata.runner.store import Checkpoints

    with Checkpoints(setup.settings.state_path)._connect() as con:
        con.execute("DELETE FROM checkpoints WHERE pipeline = 'weather_sales'")
    record = setup.run(steps=["notify"])
    assert record.metrics["notify"]["messages"] == len(DAYS)
    with setup.queue() as queue:
        assert queue.depth(in_flight=True) == 0
        assert setup.worker(queue).run(once=True).handled == []
    assert sorted_rows(setup.warehouse()) == synced


def run_and_sync(setup: WeatherSales) -> pa.Table:
    """Run the pipeline, sync every day, and return the warehouse table."""
    setup.run()
    with setup.queue() as queue:
        assert setup.worker(queue).run(once=True).count("synced") == len(DAYS)
    return setup.warehouse()


# -- 3. killed mid-sync ----------------------------------------------------------------------


def test_a_worker_killed_mid_sync_leaves_exactly_one_copy_after_a_restart(
    setup: WeatherSales, pg_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    before = run_and_sync(setup)

    # A new gold version of one day: 500 sales fewer, every units_sold changed.
    day = DAYS[1]
    table = setup.gold_table()
    old = setup.gold().filter(pc.field("date_key") == day)
    new = old.slice(0, ROWS - 500)
    units = new.schema.get_field_index("units_sold")
    new = new.set_column(units, "units_sold", pc.add(new["units_sold"], 100))
    table.replace_partitions(new, ["date_key"])
    with setup.queue() as queue:
        announce(queue, day, table.version() or 0, "kill-test")

    process, marker = start_held_worker(setup, "--once", "--wait", "0")
    processes.append(process)
    wait_for(marker.exists, 60, "the sync to stream its rows")
    pids = wait_for(lambda: copies_running(pg_url), 10, "the worker's COPY")
    assert marker.read_text() == f"sync {TABLE} {day}"
    # Mid-sync: the day's DELETE and COPY are not committed, readers see the old day.
    assert_same_rows(setup.warehouse(), before, KEY, rel=0)

    process.kill()
    process.communicate(timeout=10)
    wait_for(lambda: not copies_running(pg_url), 10, "the server to roll back")
    assert set(pids).isdisjoint(copies_running(pg_url))
    assert_same_rows(setup.warehouse(), before, KEY, rel=0)

    with setup.queue() as queue:
        # The dead worker's heartbeat stops: the message is visible after the timeout.
        wait_for(lambda: queue.depth() == 1, 15, "the message to become visible again")
    done = setup.cli("worker", "weather_sales", "--once", "--wait", "0")
    assert done.returncode == 0, done.stderr
    assert "worker stopped: 1 synced, 0 to retry, 0 malformed" in done.stderr
    assert "(receive 2)" in done.stderr

    got = assert_postgres_equals_gold(setup)
    assert rows_per_day(got) == {DAYS[0]: ROWS, day: ROWS - 500, DAYS[2]: ROWS}
    changed = got.filter(pc.field("date_key") == day)
    assert_same_rows(changed, new, KEY, rel=0)
    with setup.queue() as queue:
        assert queue.depth(in_flight=True) == 0
        assert queue.dead_letters() == []


# -- 4. schema evolution ----------------------------------------------------------------------


def test_a_new_gold_column_is_added_and_only_the_announced_day_gets_values(
    tmp_path: Path, pg_url: str
) -> None:
    setup = make_setup(tmp_path, pg_url)
    before = run_and_sync(setup)

    day = DAYS[2]
    table = setup.gold_table()
    old = setup.gold().filter(pc.field("date_key") == day)
    hot = pc.greater(old["temperature_celsius"], 30.0)
    widened = old.append_column("feels_hot", hot).append_column(
        "weather_source", pa.array(["stand-in"] * old.num_rows)
    )
    table.replace_partitions(widened, ["date_key"])
    with setup.queue() as queue:
        announce(queue, day, table.version() or 0, "widened")
        stats = setup.worker(queue).run(once=True)
        assert [h.status for h in stats.handled] == ["synced"], stats.handled
        assert queue.depth(in_flight=True) == 0

    got = assert_postgres_equals_gold(setup)  # gold reads the other days' new columns as NULL
    columns = {
        r["column_name"]: r["data_type"]
        for r in setup.sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = 'public' AND table_name = '{TABLE}'"
        )
    }
    assert columns["feels_hot"] == "boolean" and columns["weather_source"] == "text"
    assert rows_per_day(got) == dict.fromkeys(DAYS, ROWS)
    others = got.filter(pc.field("date_key") != day)
    assert others["feels_hot"].null_count == others.num_rows == 2 * ROWS
    assert others["weather_source"].null_count == others.num_rows
    # The other days' rows are untouched.
    assert_same_rows(
        others.drop_columns(["feels_hot", "weather_source"]),
        before.filter(pc.field("date_key") != day),
        KEY,
        rel=0,
    )
    changed = got.filter(pc.field("date_key") == day)
    assert changed["feels_hot"].null_count == 0
    assert set(changed["weather_source"].to_pylist()) == {"stand-in"}
    assert_same_rows(changed, widened, KEY, rel=0)


# -- 5. poison messages -----------------------------------------------------------------------


def test_poison_messages_are_dead_lettered_and_good_ones_still_flow(setup: WeatherSales) -> None:
    gold = {"layer": "GOLD", "pipeline": "weather_sales", "table": TABLE, "version": 0}
    day = {"date_key": "2024-07-01"}
    malformed = [
        "this is not JSON",
        json.dumps(["a", "list"]),
        json.dumps({**gold, **day, "layer": "SILVER"}),
        json.dumps({**gold, **day, "table": "no_such_table"}),
        json.dumps({**gold, "date_key": "the first of July"}),
        json.dumps({k: v for k, v in gold.items() if k != "version"} | day),
    ]
    # Well-formed, but never processable: retried until the queue gives up on them too.
    unprocessable = [
        json.dumps({**gold, **day, "version": 999}),  # no such gold version
        json.dumps({**gold, **day, "pipeline": "no_such_pipeline"}),
    ]
    poison = malformed + unprocessable
    with setup.queue() as queue:
        # In the first day's group, ahead of the good announcement the run sends next.
        group = f"{setup.options.queue_group}.{DAYS[0]}"
        for n, body in enumerate(poison):
            queue.send(body, group_id=group, dedup_id=f"poison-{n}")
    setup.run()
    with setup.queue() as queue:
        stats = setup.worker(queue, retry_delay=0).run(once=True)
        assert stats.count("synced") == len(DAYS)
        # Each poison message is received max_receives times, then the queue moves it.
        assert stats.count("malformed") >= MAX_RECEIVES * len(malformed)
        assert stats.count("malformed") + stats.count("retry") == MAX_RECEIVES * len(poison)
        assert queue.depth(in_flight=True) == 0
        assert sorted(m.body for m in queue.dead_letters()) == sorted(poison)
    assert_postgres_equals_gold(setup)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"pipeline": "no_such_pipeline", "table": TABLE}, id="unknown-pipeline"),
        pytest.param({"pipeline": "weather_sales", "table": "sales"}, id="silver-table"),
    ],
)
def test_a_message_naming_no_gold_table_is_malformed(
    tmp_path: Path, fields: dict[str, str]
) -> None:
    body = {"layer": "GOLD", **fields, "date_key": "2024-07-01", "version": 0}
    with open_queue("local:poison.fifo", state_dir=tmp_path) as queue:
        queue.send(json.dumps(body))
        (message,) = queue.receive(wait_seconds=0)
        worker = Worker(make_settings(tmp_path), queue, lambda _: pytest.fail("no target"))
        handled = worker.handle(message)
    assert handled.status == "malformed", handled


# -- 6. PostgreSQL down ------------------------------------------------------------------------


def test_postgres_down_keeps_every_message_until_it_is_back(tmp_path: Path, pg_url: str) -> None:
    setup = make_setup(tmp_path, pg_url)
    setup.run()
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    with setup.queue() as queue:
        received: list[Message] = []
        real_receive = queue.receive

        def spy(**kwargs: Any) -> list[Message]:
            messages = real_receive(**kwargs)
            received.extend(messages)
            return messages

        queue.receive = spy
        down = setup.worker(queue, url=closed, retry_delay=60)
        stats = down.run(once=True)  # must not raise
        # The first batch fails; the FIFO group then waits behind those messages, which back
        # off (stay hidden) for a while.
        assert stats.handled and {h.status for h in stats.handled} == {"retry"}
        assert all("127.0.0.1" in h.detail for h in stats.handled), stats.handled
        assert len(received) == len(stats.handled)
        # Nothing deleted, nothing dead-lettered.
        assert queue.depth(in_flight=True) == len(DAYS)
        assert queue.depth() == len(DAYS) - len(received)
        assert queue.dead_letters() == []

        # The backoff ends (here: at once) and the database is back.
        for message in received:
            queue.release(message)
        queue.receive = real_receive
        stats = setup.worker(queue).run(once=True)
        assert stats.count("synced") == len(DAYS)
        assert queue.depth(in_flight=True) == 0
    got = assert_postgres_equals_gold(setup)
    assert got.num_rows == len(DAYS) * ROWS


def test_a_connection_lost_mid_sync_rolls_back_and_the_worker_reconnects(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = make_setup(tmp_path, pg_url)
    setup.run()
    real_progress = Worker._progress
    armed, cut = [False], list[int]()

    def cut_once(self: Worker, reader: Any, total: int, label: str) -> Iterator[Any]:
        yield from real_progress(self, reader, total, label)
        if armed[0] and not cut:  # every row is in the COPY: the server drops the session
            cut.extend(copies_running(pg_url))
            assert cut, "no COPY in flight"
            terminate(pg_url, cut)

    monkeypatch.setattr(Worker, "_progress", cut_once)
    with setup.queue() as queue:
        worker = setup.worker(queue, retry_delay=60)
        first, second, third = receive_all(queue, len(DAYS))
        assert worker.handle(first).status == "synced"  # the table exists now
        before = setup.warehouse()
        armed[0] = True

        lost = worker.handle(second)
        assert lost.status == "retry", lost
        assert cut
        # Rolled back: the day is not half-written, and the message is still there.
        assert_same_rows(setup.warehouse(), before, KEY, rel=0)
        assert queue.depth(in_flight=True) == 2

        # Same worker: it reconnects (the broken connection was dropped) and goes on.
        assert worker.handle(third).status == "synced"
        queue.release(second)
        (again,) = receive_all(queue, 1)
        assert worker.handle(again).status == "synced"
        assert queue.depth(in_flight=True) == 0
        worker.close()
    assert_postgres_equals_gold(setup)


# -- 7. SIGTERM -------------------------------------------------------------------------------


def sigterm(process: subprocess.Popen[str]) -> str:
    """Send SIGTERM, wait for a clean exit (bounded), return the process's stderr."""
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return err


def test_sigterm_finishes_the_sync_in_hand_then_exits_cleanly(
    tmp_path: Path, pg_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    setup = make_setup(tmp_path, pg_url, worker_concurrency=1)
    setup.run()

    # A worker without --once, stopped while a sync is in flight.
    process, marker = start_held_worker(setup, "--wait", "1")
    processes.append(process)
    wait_for(marker.exists, 60, "the sync to stream its rows")
    wait_for(lambda: copies_running(pg_url), 10, "the worker's COPY")
    assert marker.read_text() == f"sync {TABLE} {DAYS[0]}"
    assert "worker stopped: 1 synced, 0 to retry, 0 malformed" in sigterm(process)
    # The sync in hand was committed and its message deleted; the rest wait for next time.
    got = setup.warehouse()
    assert rows_per_day(got) == {DAYS[0]: ROWS}
    assert_same_rows(got, setup.gold().filter(pc.field("date_key") == DAYS[0]), KEY, rel=0)
    with setup.queue() as queue:
        assert queue.depth(in_flight=True) == len(DAYS) - 1

    # An idle worker (long-polling an empty queue) stops within a poll too.
    idle = subprocess.Popen(
        [sys.executable, "-m", "strata", "worker", "weather_sales", "--wait", "1"],
        env=setup.env(),
        cwd=setup.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(idle)
    wait_for(lambda: setup.sql(f"SELECT count(*) AS n FROM {TABLE}")[0]["n"] == 3 * ROWS, 60)
    with setup.queue() as queue:
        wait_for(lambda: queue.depth(in_flight=True) == 0, 10, "the last delete")
    assert "worker stopped: 2 synced, 0 to retry, 0 malformed" in sigterm(idle)
    assert_postgres_equals_gold(setup)


# -- lanes ------------------------------------------------------------------------------------


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


# -- caches and batches -----------------------------------------------------------------------


def test_one_worker_follows_new_gold_versions_and_schemas(tmp_path: Path, pg_url: str) -> None:
    """The worker opens each table version once and keeps it; a new version (here with a new
    column) is another key, never the cached old one."""
    setup = make_setup(tmp_path, pg_url)
    setup.run()
    table = setup.gold_table()
    first = table.version() or 0
    with setup.queue() as queue:
        worker = setup.worker(queue)
        assert worker.run(once=True).count("synced") == len(DAYS)
        assert [version for _, version in worker._datasets] == [first]

        day = DAYS[0]
        old = setup.gold().filter(pc.field("date_key") == day)
        changed = old.set_column(
            old.schema.get_field_index("units_sold"), "units_sold", pc.add(old["units_sold"], 7)
        ).append_column("feels_hot", pc.greater(old["temperature_celsius"], 30.0))
        table.replace_partitions(changed, ["date_key"])
        second = table.version() or 0
        assert second > first
        announce(queue, day, second, "new-version")
        # The old version announced late is still read at that version.
        announce(queue, DAYS[1], first, "old-version")
        stats = worker.run(once=True)
        assert [h.status for h in stats.handled[-2:]] == ["synced", "synced"], stats.handled
        assert sorted(version for _, version in worker._datasets) == [first, second]
        worker.close()
    got = assert_postgres_equals_gold(setup)
    assert_same_rows(got.filter(pc.field("date_key") == day), changed, KEY, rel=0)


def test_a_failed_sync_drops_the_cached_dataset(tmp_path: Path, pg_url: str) -> None:
    setup = make_setup(tmp_path, pg_url)
    setup.run()
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    with setup.queue() as queue:
        (message, *_) = receive_all(queue, len(DAYS))
        worker = setup.worker(queue, url=closed, retry_delay=0)
        assert worker.handle(message).status == "retry"
        assert worker._datasets == {}


class RecordingQueue(Queue):
    """A queue stand-in that records what the worker does with each message."""

    name = "recording.fifo"
    url = "test:recording"
    visibility_timeout = 30.0

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []
        self.lock = threading.Lock()

    def send(self, body: str, *, group_id: str | None = None, dedup_id: str | None = None) -> str:
        raise NotImplementedError

    def receive(self, **kwargs: Any) -> list[Message]:
        return []

    def delete(self, message: Message) -> None:
        with self.lock:
            self.calls.append(("delete", message.id, 0))

    def extend(self, message: Message, seconds: float) -> None:
        with self.lock:
            self.calls.append(("extend", message.id, seconds))

    def depth(self, *, in_flight: bool = False) -> int:
        return 0

    @property
    def dlq(self) -> Queue | None:
        return None


def change(n: int, day: str) -> Message:
    body = {"layer": "GOLD", "pipeline": "weather_sales", "table": TABLE}
    body |= {"date_key": day, "version": 0}
    return Message(str(n), json.dumps(body), f"r{n}", 1, "g", {})


def test_a_batch_keeps_its_waiting_messages_hidden_and_releases_them_on_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = RecordingQueue()
    worker = Worker(
        make_settings(tmp_path),
        queue,
        lambda _: pytest.fail("no target"),
        visibility_timeout=0.3,
        concurrency=1,
    )
    started: list[str] = []

    def slow_sync(self: Worker, gold: Any) -> tuple[int, str]:
        started.append(str(gold.date_key))
        time.sleep(0.5)  # > visibility / 3: the waiting messages need the batch heartbeat
        if len(started) == 2:
            self.stop.set()  # SIGTERM while the second day syncs
        return 1, "db.t"

    monkeypatch.setattr(Worker, "sync", slow_sync)
    batch = [change(1, "2024-07-01"), change(2, "2024-07-02"), change(3, "2024-07-03")]
    with ThreadPoolExecutor(1) as pool:
        handled = worker._handle_batch(pool, batch)
    assert [h.status for h in handled] == ["synced", "synced"]
    assert started == ["2024-07-01", "2024-07-02"]
    calls = queue.calls
    # Deleted after their sync; the third, never started, was released (visible at once).
    assert ("delete", "1", 0) in calls and ("delete", "2", 0) in calls
    assert calls[-1] == ("extend", "3", 0)
    assert ("delete", "3", 0) not in calls
    # While the first day synced, the others were kept hidden; nothing is extended after
    # its delete.
    assert {m for op, m, s in calls if op == "extend" and s > 0} >= {"2", "3"}
    for n in ("1", "2"):
        ops = [(op, s) for op, m, s in calls if m == n]
        assert ops.index(("delete", 0)) == len(ops) - 1, ops
