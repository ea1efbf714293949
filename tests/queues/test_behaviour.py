"""The queue contract, run against both backends: the embedded queue and SQS (moto server).

Timing bounds are generous: a message must come back "within a few seconds", never "at 1.0 s".
"""

from __future__ import annotations

import threading
import time

import pytest

from strata.queues import QueueError, keep_visible
from tests.queues.conftest import MakeQueue


def test_send_receive_delete(make_queue: MakeQueue) -> None:
    queue = make_queue()
    sent = queue.send('{"layer": "GOLD", "table": "sales", "version": 3}')

    [message] = queue.receive(wait_seconds=2)
    assert message.id == sent
    assert message.body == '{"layer": "GOLD", "table": "sales", "version": 3}'
    assert message.receive_count == 1
    assert message.group_id is None
    assert int(message.attributes["SentTimestamp"]) > 0
    assert queue.depth() == 0
    assert queue.depth(in_flight=True) == 1

    queue.delete(message)
    queue.delete(message)  # deleting twice is not an error
    assert queue.depth(in_flight=True) == 0
    assert queue.receive(wait_seconds=0) == []


def test_receive_caps_batches_at_ten(make_queue: MakeQueue) -> None:
    queue = make_queue()
    for i in range(12):
        queue.send(f"m{i}")
    got: list[str] = []
    for _ in range(5):
        batch = queue.receive(max_messages=50, wait_seconds=1)
        assert len(batch) <= 10
        got += [m.body for m in batch]
        if len(got) == 12:
            break
    assert sorted(got) == sorted(f"m{i}" for i in range(12))
    with pytest.raises(ValueError):
        queue.receive(max_messages=0)


def test_fifo_orders_each_group_and_holds_a_busy_group(make_queue: MakeQueue) -> None:
    queue = make_queue(fifo=True)
    assert queue.fifo
    queue.send("a1", group_id="A")
    queue.send("a2", group_id="A")
    queue.send("b1", group_id="B")

    [first] = queue.receive(wait_seconds=0)
    assert (first.body, first.group_id) == ("a1", "A")
    [second] = queue.receive(wait_seconds=0)
    assert (second.body, second.group_id) == ("b1", "B")  # a2 waits while a1 is in flight
    assert queue.receive(wait_seconds=0) == []

    queue.delete(first)
    [third] = queue.receive(wait_seconds=0)
    assert third.body == "a2"
    assert third.attributes["MessageGroupId"] == "A"


def test_fifo_default_group_keeps_send_order(make_queue: MakeQueue) -> None:
    queue = make_queue(fifo=True)
    for i in range(5):
        queue.send(f"m{i}")
    batch = queue.receive(max_messages=10, wait_seconds=0)
    assert [m.body for m in batch] == [f"m{i}" for i in range(5)]
    assert {m.group_id for m in batch} == {"default"}


def test_fifo_deduplicates_by_id_or_body(make_queue: MakeQueue) -> None:
    queue = make_queue(fifo=True)
    queue.send("x", dedup_id="sales:2024-01-01:v3")
    queue.send("x again", dedup_id="sales:2024-01-01:v3")  # same id: dropped
    queue.send("y")
    queue.send("y")  # same body, no id: dropped (content hash)
    queue.send("y", dedup_id="another")
    queue.send("z", dedup_id="a long id " * 20)  # over 128 characters: hashed, accepted

    bodies = [m.body for m in queue.receive(max_messages=10, wait_seconds=0)]
    assert bodies == ["x", "y", "y", "z"]


def test_standard_queue_ignores_group_and_dedup_ids(make_queue: MakeQueue) -> None:
    queue = make_queue()
    assert not queue.fifo
    queue.send("x", group_id="A", dedup_id="d")
    queue.send("x", group_id="A", dedup_id="d")
    got = []
    for _ in range(3):
        got += queue.receive(max_messages=10, wait_seconds=1)
        if len(got) == 2:
            break
    assert [m.body for m in got] == ["x", "x"]
    assert {m.group_id for m in got} == {None}


def test_received_message_is_hidden_until_the_visibility_timeout(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.send("work")
    [first] = queue.receive(wait_seconds=1, visibility_timeout=1)
    assert queue.receive(wait_seconds=0) == []

    [again] = queue.receive(wait_seconds=8)  # back after about a second
    assert again.id == first.id
    assert again.receive_count == 2
    assert again.receipt_handle != first.receipt_handle


def test_extend_keeps_it_hidden_past_the_first_timeout(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.send("long work")
    [message] = queue.receive(wait_seconds=1, visibility_timeout=1)
    queue.extend(message, 3)
    time.sleep(1.5)
    assert queue.receive(wait_seconds=0) == []
    [again] = queue.receive(wait_seconds=10)
    assert again.id == message.id


def test_release_makes_it_visible_now(make_queue: MakeQueue) -> None:
    queue = make_queue(fifo=True)
    queue.send("retry me")
    [message] = queue.receive(wait_seconds=1, visibility_timeout=60)
    queue.release(message)
    [again] = queue.receive(wait_seconds=1)
    assert again.id == message.id
    assert again.receive_count == 2


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_poison_message_goes_to_the_dead_letter_queue(make_queue: MakeQueue, fifo: bool) -> None:
    queue = make_queue(fifo=fifo, max_receives=2)
    queue.send("poison")
    counts = []
    for _ in range(2):
        [message] = queue.receive(wait_seconds=1, visibility_timeout=0)  # failed: back at once
        counts.append(message.receive_count)
    assert counts == [1, 2]

    assert queue.receive(wait_seconds=0) == []  # the third receive moves it instead
    assert queue.depth(in_flight=True) == 0
    dlq = queue.dlq
    assert dlq is not None
    assert dlq.fifo == fifo
    assert dlq.depth() == 1

    [dead] = queue.dead_letters()
    assert dead.body == "poison"
    assert dlq.depth() == 1  # a peek leaves it there
    dlq.delete(dead)
    assert dlq.depth(in_flight=True) == 0


def test_receive_count_grows_without_a_dead_letter_queue(make_queue: MakeQueue) -> None:
    queue = make_queue(max_receives=None)
    queue.send("again and again")
    counts = [
        queue.receive(wait_seconds=1, visibility_timeout=0)[0].receive_count for _ in range(4)
    ]
    assert counts == [1, 2, 3, 4]
    assert queue.dlq is None
    assert queue.dead_letters() == []


def test_long_poll_returns_as_soon_as_a_message_arrives(make_queue: MakeQueue) -> None:
    queue = make_queue()
    sender = threading.Timer(0.5, queue.send, args=("late",))
    started = time.monotonic()
    sender.start()
    try:
        messages = queue.receive(wait_seconds=15)
    finally:
        sender.join()
    assert [m.body for m in messages] == ["late"]
    assert time.monotonic() - started < 10


def test_long_poll_returns_empty_after_the_wait(make_queue: MakeQueue) -> None:
    queue = make_queue()
    started = time.monotonic()
    assert queue.receive(wait_seconds=1) == []
    assert 0.9 <= time.monotonic() - started < 10


def test_keep_visible_extends_while_the_work_runs(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.send("slow sync")
    [message] = queue.receive(wait_seconds=1, visibility_timeout=1)
    with keep_visible(queue, message, every=0.25, extend_by=2) as heartbeat:
        time.sleep(2)
        assert queue.receive(wait_seconds=0) == []  # hidden past its 1 s timeout
    assert heartbeat.ok, heartbeat.errors
    assert heartbeat.beats >= 2
    queue.delete(message)
    assert queue.depth(in_flight=True) == 0


def test_keep_visible_records_extend_errors(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.send("gone")
    [message] = queue.receive(wait_seconds=1)
    queue.delete(message)
    with keep_visible(queue, message, every=0.1, extend_by=1) as heartbeat:
        time.sleep(0.5)
    assert not heartbeat.ok
    assert all(isinstance(e, QueueError) for e in heartbeat.errors)
    with pytest.raises(ValueError), keep_visible(queue, message, every=2, extend_by=1):
        pass


def test_a_closed_queue_refuses_work(make_queue: MakeQueue) -> None:
    with make_queue() as queue:
        queue.send("x")
    with pytest.raises(QueueError, match="closed"):
        queue.send("y")
