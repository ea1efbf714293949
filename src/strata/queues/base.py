"""What every Strata queue offers: messages, at-least-once delivery, visibility, dead letters.

The model is Amazon SQS's, and both backends (`SQSQueue`, `LocalQueue`) follow it:

* **At least once.** `receive` hands out a message and hides it for the *visibility timeout*;
  the consumer `delete`s it when the work is done (for the worker: after the database commit).
  A message not deleted in time becomes visible again and is delivered again, so consumers
  must be idempotent.
* **Visibility.** `extend(message, seconds)` sets the message's visibility to `seconds` from
  now (long work keeps it hidden; `keep_visible` does that from a heartbeat thread);
  `release(message)` makes it visible at once (retry now, maybe by another consumer).
* **Receive count and dead letters.** Every receive increments `Message.receive_count`. A queue
  with a dead-letter queue moves a message that comes back after `max_receives` receives to
  the DLQ instead of delivering it again; `dlq` is that queue and `dead_letters()` peeks in.
* **FIFO** queues (the name ends in `.fifo`) deliver the messages of one *group* in send order,
  and hold a group back while one of its messages is in flight; a deduplication id (default: a
  hash of the body) drops a repeat sent within five minutes. Standard queues ignore group and
  deduplication ids and do not promise any order.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType

from strata.errors import ConfigError, StrataError, TransientError

log = logging.getLogger("strata.queues")

DEFAULT_GROUP = "default"
"""The message group of a FIFO message sent without `group_id`."""
DEFAULT_VISIBILITY = 30.0
"""Seconds a received message stays hidden unless told otherwise (SQS's default)."""
DEFAULT_WAIT = 20.0
"""Seconds `receive` long-polls by default (SQS's maximum for one call)."""
DEFAULT_MAX_RECEIVES = 5
"""Receives after which a message that comes back again goes to the dead-letter queue."""
MAX_BATCH = 10
"""Most messages one `receive` returns (SQS's limit; the local queue keeps it)."""
DEDUP_WINDOW = 300.0
"""Seconds during which a FIFO deduplication id suppresses a repeat (SQS: five minutes)."""

_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")
_DEDUP_ID = re.compile(r"[!-~]{1,128}")


class QueueError(StrataError):
    """A queue operation failed; `queue` names the queue (URL or `local:NAME`, no secrets)."""

    def __init__(self, queue: str, reason: str) -> None:
        self.queue = queue
        self.reason = reason
        super().__init__(f"queue {queue}: {reason}")


class QueueUnavailable(QueueError, TransientError):
    """The queue service could not be reached or asked us to slow down (worth retrying)."""


class QueueNotFound(QueueError, ConfigError):
    """The queue does not exist (a wrong URL or name, or it was never created)."""


@dataclass(frozen=True)
class Message:
    """One delivery of a message.

    `receipt_handle` identifies this delivery: `delete`, `extend` and `release` need it, and a
    later delivery of the same message (after the visibility timeout) gets a new one.
    `receive_count` counts deliveries including this one. `group_id` is set on FIFO queues.
    `attributes` are SQS-style system attributes as strings (`SentTimestamp` in ms,
    `ApproximateReceiveCount`, `MessageGroupId`, `MessageDeduplicationId`, ...).
    """

    id: str
    body: str
    receipt_handle: str
    receive_count: int
    group_id: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


class Queue(ABC):
    """A message queue (see the module docstring for the delivery semantics).

    Use it as a context manager, or call `close()`. Methods raise `QueueError` subclasses:
    `QueueUnavailable` (transient), `QueueNotFound`, or `QueueError` itself.
    """

    name: str
    """The queue's name (`.fifo` at the end for a FIFO queue)."""
    url: str
    """Where the queue is: the SQS queue URL, or `local:NAME`."""
    visibility_timeout: float
    """The default visibility timeout of `receive`, in seconds."""

    @property
    def fifo(self) -> bool:
        """Whether this is a FIFO queue (ordered per group, deduplicated)."""
        return self.name.endswith(".fifo")

    @abstractmethod
    def send(self, body: str, *, group_id: str | None = None, dedup_id: str | None = None) -> str:
        """Send `body`; returns the message id.

        On a FIFO queue `group_id` (default `DEFAULT_GROUP`) orders the message after earlier
        ones of its group, and `dedup_id` (default: a hash of the body) makes a repeat sent
        within five minutes succeed without being delivered again (the local queue returns
        the first message's id for it). A standard queue ignores both.
        """

    @abstractmethod
    def receive(
        self,
        *,
        max_messages: int = 1,
        wait_seconds: float = DEFAULT_WAIT,
        visibility_timeout: float | None = None,
    ) -> list[Message]:
        """Up to `max_messages` (at most 10) messages, hidden for `visibility_timeout` seconds
        (default: the queue's) from now.

        Long polling: returns as soon as at least one message is available, or an empty list
        once `wait_seconds` have passed without one (0: look once and return).
        """

    @abstractmethod
    def delete(self, message: Message) -> None:
        """Remove a received message for good (call it once the work is committed).

        Deleting an already deleted message is not an error. If the message was delivered
        again since (its visibility expired and another consumer received it), the stale
        receipt may not delete it: the message is then processed again.
        """

    @abstractmethod
    def extend(self, message: Message, seconds: float) -> None:
        """Keep a received message hidden until `seconds` from now (not: `seconds` more).

        Raises `QueueError` when the receipt is no longer valid (the message was deleted, or
        delivered again to someone else).
        """

    def release(self, message: Message) -> None:
        """Make a received message visible now, to be delivered again (retry at once)."""
        self.extend(message, 0)

    @abstractmethod
    def depth(self, *, in_flight: bool = False) -> int:
        """Approximate number of messages waiting to be received (with `in_flight`: plus the
        received ones not yet deleted)."""

    @property
    @abstractmethod
    def dlq(self) -> Queue | None:
        """The dead-letter queue, or None when the queue has none.

        It is a queue like any other: receive from it to inspect or replay, `depth()` to
        count what went there, delete to drop.
        """

    def dead_letters(self, max_messages: int = MAX_BATCH) -> list[Message]:
        """Peek at up to `max_messages` messages in the dead-letter queue; they stay there
        (visible at once). Empty when there is no DLQ. On SQS a peek is a receive of the
        dead letter (its receive count grows); the local queue only reads."""
        dlq = self.dlq
        if dlq is None:
            return []
        return dlq.receive(max_messages=max_messages, wait_seconds=0, visibility_timeout=0)

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release the connection (the queue object is not usable afterwards)."""

    def __enter__(self) -> Queue:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


@dataclass
class Heartbeat:
    """What `keep_visible` did: `beats` successful extensions, `errors` the failed ones."""

    beats: int = 0
    errors: list[Exception] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every extension succeeded (the message stayed hidden throughout)."""
        return not self.errors


@contextmanager
def keep_visible(
    queue: Queue, message: Message, every: float = 10.0, extend_by: float = 30.0
) -> Iterator[Heartbeat]:
    """Keep `message` hidden while the body runs: a thread sets its visibility to `extend_by`
    seconds from now every `every` seconds.

    Errors from `extend` are recorded in the yielded `Heartbeat` (and logged), never raised in
    the thread; check `heartbeat.ok` before trusting that nobody else got the message. The
    thread stops when the body ends, however it ends. The message is left as it is: delete
    it or release it afterwards.
    """
    if every <= 0 or extend_by <= every:
        raise ValueError(f"keep_visible needs 0 < every < extend_by (got {every}, {extend_by})")
    heartbeat = Heartbeat()
    stop = threading.Event()
    thread = threading.Thread(
        target=_beat,
        args=(queue, message, every, extend_by, stop, heartbeat),
        name=f"keep-visible-{message.id}",
        daemon=True,
    )
    thread.start()
    try:
        yield heartbeat
    finally:
        stop.set()
        thread.join()


def _beat(
    queue: Queue,
    message: Message,
    every: float,
    extend_by: float,
    stop: threading.Event,
    heartbeat: Heartbeat,
) -> None:
    while not stop.wait(every):
        try:
            queue.extend(message, extend_by)
            heartbeat.beats += 1
        except Exception as exc:
            heartbeat.errors.append(exc)
            log.warning("keeping message %s visible failed: %s", message.id, exc)


def check_name(name: str) -> str:
    """`name` if it is a valid queue name (SQS's rules), else a ConfigError."""
    if _NAME.fullmatch(name) or _FIFO_NAME.fullmatch(name):
        return name
    raise ConfigError(
        f"invalid queue name {name!r}: 1-80 letters, digits, '-' or '_' "
        "(a FIFO queue: at most 75 of them, then '.fifo')"
    )


def dlq_name_for(name: str) -> str:
    """The default dead-letter queue name of `name`: `orders.fifo` → `orders-dlq.fifo`."""
    stem, fifo = (name[: -len(".fifo")], ".fifo") if name.endswith(".fifo") else (name, "")
    return f"{stem[: 75 - 4 if fifo else 80 - 4]}-dlq{fifo}"


def dedup_token(body: str, dedup_id: str | None) -> str:
    """The deduplication id sent for `body`: `dedup_id` when SQS accepts it as is (1-128
    printable ASCII characters), else a SHA-256 of it (of the body when None)."""
    if dedup_id is not None and _DEDUP_ID.fullmatch(dedup_id):
        return dedup_id
    source = body if dedup_id is None else dedup_id
    return hashlib.sha256(source.encode()).hexdigest()


def check_batch(max_messages: int) -> int:
    """`max_messages` capped to `MAX_BATCH`; a ValueError below 1."""
    if max_messages < 1:
        raise ValueError(f"max_messages must be at least 1 (got {max_messages})")
    return min(max_messages, MAX_BATCH)
