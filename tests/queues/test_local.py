"""The embedded queue: durability across instances and processes, and its own edges."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from strata.errors import ConfigError
from strata.queues import DEFAULT_LOCAL_QUEUE, LocalQueue, QueueError, open_queue
from strata.queues import local as local_module
from tests.queues.consumers import consume


def test_empty_setting_means_the_default_local_queue(tmp_path: Path) -> None:
    for setting in (None, "", "  "):
        queue = open_queue(setting, state_dir=tmp_path)
        assert isinstance(queue, LocalQueue)
        assert queue.name == DEFAULT_LOCAL_QUEUE
        assert queue.fifo
        assert queue.url == f"local:{DEFAULT_LOCAL_QUEUE}"
    assert (tmp_path / "queues.db").is_file()
    with sqlite3.connect(tmp_path / "queues.db") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_messages_survive_across_instances(tmp_path: Path) -> None:
    with open_queue("local:gold", state_dir=tmp_path) as producer:
        ids = [producer.send(f"m{i}") for i in range(3)]

    first = open_queue("local:gold", state_dir=tmp_path)
    second = open_queue("local:gold", state_dir=tmp_path)
    [taken] = first.receive(wait_seconds=0, visibility_timeout=60)
    assert taken.id == ids[0]
    rest = second.receive(max_messages=10, wait_seconds=0)
    assert [m.id for m in rest] == ids[1:]  # the in-flight one is hidden from the other
    second.delete(taken)  # any instance can settle a delivery
    for message in rest:
        second.delete(message)
    assert first.depth(in_flight=True) == 0


def _run_consumers(tmp_path: Path, name: str, workers: int = 2) -> list[dict[str, object]]:
    """Run `workers` consumer processes on the queue at once; their deliveries."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(workers)  # each consumer starts once all have opened the queue
    outs = [tmp_path / f"consumer{i}.jsonl" for i in range(workers)]
    processes = [
        context.Process(target=consume, args=(name, str(tmp_path / "state"), str(out), start))
        for out in outs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return [json.loads(line) for out in outs for line in out.read_text().splitlines()]


def test_two_processes_get_each_message_exactly_once(tmp_path: Path) -> None:
    with open_queue("local:work", state_dir=tmp_path / "state") as queue:
        bodies = [f"m{i}" for i in range(60)]
        for body in bodies:
            queue.send(body)
        records = _run_consumers(tmp_path, "local:work")
        assert sorted(str(r["body"]) for r in records) == sorted(bodies)
        assert queue.depth(in_flight=True) == 0


def test_two_processes_keep_fifo_group_order(tmp_path: Path) -> None:
    with open_queue("local:work.fifo", state_dir=tmp_path / "state") as queue:
        for i in range(10):
            for group in ("a", "b", "c", "d"):
                queue.send(f"{group}{i}", group_id=group)
        records = _run_consumers(tmp_path, "local:work.fifo")
    assert len(records) == 40
    for group in ("a", "b", "c", "d"):
        mine = [r for r in records if r["group"] == group]
        delivered = sorted(mine, key=lambda r: float(str(r["at"])))
        assert [r["body"] for r in delivered] == [f"{group}{i}" for i in range(10)]


def test_a_stale_receipt_cannot_settle_a_redelivered_message(tmp_path: Path) -> None:
    queue = open_queue("local:q", state_dir=tmp_path)
    queue.send("x")
    [old] = queue.receive(wait_seconds=0, visibility_timeout=0)
    [new] = queue.receive(wait_seconds=0, visibility_timeout=60)
    with pytest.raises(QueueError, match="not in flight under this receipt"):
        queue.extend(old, 30)
    queue.delete(old)  # logged, not deleted: another consumer owns it now
    assert queue.depth(in_flight=True) == 1
    queue.delete(new)
    assert queue.depth(in_flight=True) == 0


def test_dedup_window_expires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_module, "DEDUP_WINDOW", 0.2)
    queue = open_queue("local:q.fifo", state_dir=tmp_path)
    first = queue.send("x", dedup_id="d")
    assert queue.send("x", dedup_id="d") == first  # a repeat returns the first id
    time.sleep(0.3)
    assert queue.send("x", dedup_id="d") != first
    assert queue.depth() == 2


def test_dedup_outlives_the_deleted_message(tmp_path: Path) -> None:
    queue = open_queue("local:q.fifo", state_dir=tmp_path)
    queue.send("x")
    [message] = queue.receive(wait_seconds=0)
    queue.delete(message)
    queue.send("x")
    assert queue.depth() == 0


def test_dead_letter_queue_name_and_kind(tmp_path: Path) -> None:
    queue = open_queue("local:orders.fifo", state_dir=tmp_path, max_receives=3)
    assert queue.dlq is not None
    assert queue.dlq.name == "orders-dlq.fifo"
    named = open_queue("local:orders", state_dir=tmp_path, dlq="poison")
    assert named.dlq is not None and named.dlq.name == "poison"
    with pytest.raises(ConfigError, match="FIFO"):
        open_queue("local:orders.fifo", state_dir=tmp_path, dlq="poison")
    with pytest.raises(ConfigError, match="own dead-letter"):
        open_queue("local:orders", state_dir=tmp_path, dlq="orders")
    assert open_queue("local:orders", state_dir=tmp_path, max_receives=None).dlq is None


@pytest.mark.parametrize("setting", ["local:bad name", "local:" + "x" * 81, "local:a.fifo.fifo"])
def test_invalid_names_are_config_errors(tmp_path: Path, setting: str) -> None:
    with pytest.raises(ConfigError, match="invalid queue name"):
        open_queue(setting, state_dir=tmp_path)


def test_unknown_scheme_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="local:NAME"):
        open_queue("amqp://broker/q", state_dir=tmp_path)


def test_unusable_database_is_a_queue_error(tmp_path: Path) -> None:
    queue = open_queue("local:q", state_dir=tmp_path)
    (tmp_path / "queues.db").unlink()
    (tmp_path / "queues.db").mkdir()
    with pytest.raises(QueueError, match=r"local:q: .*queues\.db"):
        queue.send("x")
