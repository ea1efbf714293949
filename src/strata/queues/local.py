"""The embedded queue: SQS semantics in a SQLite file of the state folder (`<state>/queues.db`).

It is the default when no queue URL is configured, so a pipeline and `strata worker` on one
machine (or on machines sharing the state folder's disk) need no queue service. Every queue
and its dead-letter queue live in one table of one database in WAL mode; each operation opens
its own connection, so any number of threads and processes can share a queue.

Receiving is one `UPDATE … WHERE seq IN (SELECT … LIMIT n) RETURNING …` inside a
`BEGIN IMMEDIATE` transaction (which also moves exhausted messages to the dead-letter queue):
two consumers never get the same delivery. Long polling re-checks every `poll_interval`
seconds with a read-only query, and takes the write lock only when something is there.

Differences from SQS: visibility timeouts and waits may be fractions of a second; the
receiving side's `max_receives` and `dlq` decide the redrive (SQS: the queue's redrive
policy); a deduplicated repeat returns the first message's id; standard queues deliver in send
order (not promised); delivery is exact, not sampled, so a short poll never misses a message.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from strata.errors import ConfigError
from strata.queues.base import (
    DEDUP_WINDOW,
    DEFAULT_GROUP,
    DEFAULT_MAX_RECEIVES,
    DEFAULT_VISIBILITY,
    DEFAULT_WAIT,
    Message,
    Queue,
    QueueError,
    QueueUnavailable,
    check_batch,
    check_name,
    dedup_token,
    dlq_name_for,
)

log = logging.getLogger("strata.queues.local")

LOCAL_PREFIX = "local:"
DB_FILE = "queues.db"
POLL_INTERVAL = 0.05
"""Seconds between two looks at the database while long-polling."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL, group_id TEXT, dedup_id TEXT, sent_at REAL NOT NULL,
    visible_at REAL NOT NULL, receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT,
    first_received_at REAL
);
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at);
CREATE TABLE IF NOT EXISTS queue_dedup (
    queue TEXT NOT NULL, dedup_id TEXT NOT NULL, message_id TEXT NOT NULL,
    sent_at REAL NOT NULL, PRIMARY KEY (queue, dedup_id)
);
"""

_COLUMNS = "id, body, receipt, receive_count, group_id, dedup_id, seq, sent_at, first_received_at"
_READY = "queue = :queue AND visible_at <= :now"
_GROUP_FREE = (
    " AND group_id NOT IN (SELECT group_id FROM queue_messages WHERE queue = :queue"
    " AND visible_at > :now AND group_id IS NOT NULL)"
)


class QueueDB:
    """The queues database of a state folder (`<folder>/queues.db`, SQLite in WAL mode; each
    statement autocommits unless a transaction is begun), apart from the run history so that
    polling consumers never contend with the runner's leases.

    The same pattern as `strata.runner.store.StateDB`, which is not reused because it always
    opens `state.db` and importing `strata.runner` loads the whole engine stack (~3 s), too
    much for a queue consumer.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / DB_FILE
        with self.connect() as con:
            con.executescript(SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            yield con
        finally:
            con.close()


class LocalQueue(Queue):
    """A queue in `<state_dir>/queues.db` (see the module docstring).

    `max_receives` (None: never) deliveries after which a message that comes back goes to
    the queue `dlq` of the same database (default: `<name>-dlq`, FIFO for a FIFO queue).
    """

    def __init__(
        self,
        name: str,
        state_dir: Path | str,
        *,
        dlq: str | None = None,
        max_receives: int | None = DEFAULT_MAX_RECEIVES,
        visibility_timeout: float = DEFAULT_VISIBILITY,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self.name = check_name(name)
        self.url = LOCAL_PREFIX + name
        self.visibility_timeout = visibility_timeout
        self.max_receives = max_receives or None
        self.dlq_name = _dlq_name(name, dlq) if self.max_receives else None
        self.poll_interval = poll_interval
        self._folder = Path(state_dir)
        self._closed = False
        with self._guard():
            self._db = QueueDB(self._folder)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._folder / DB_FILE

    # -- sending ---------------------------------------------------------------------------
    def send(self, body: str, *, group_id: str | None = None, dedup_id: str | None = None) -> str:
        message_id = str(uuid.uuid4())
        now = time.time()
        group = (group_id or DEFAULT_GROUP) if self.fifo else None
        token = dedup_token(body, dedup_id) if self.fifo else None
        with self._transaction() as con:
            if token is not None:
                first = _deduplicate(con, self.name, token, message_id, now)
                if first is not None:
                    return first
            con.execute(
                "INSERT INTO queue_messages (queue, id, body, group_id, dedup_id, sent_at, "
                "visible_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self.name, message_id, body, group, token, now, now),
            )
        return message_id

    # -- receiving -------------------------------------------------------------------------
    def receive(
        self,
        *,
        max_messages: int = 1,
        wait_seconds: float = DEFAULT_WAIT,
        visibility_timeout: float | None = None,
    ) -> list[Message]:
        count = check_batch(max_messages)
        hidden = self.visibility_timeout if visibility_timeout is None else visibility_timeout
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            if self._ready():
                messages = self._take(count, max(hidden, 0.0))
                if messages:
                    return messages
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            time.sleep(min(self.poll_interval, left))

    def _ready(self) -> bool:
        """Whether a receive could deliver something now (read-only, no write lock)."""
        sql = f"SELECT 1 FROM queue_messages WHERE {_READY}"
        sql += (_GROUP_FREE if self.fifo else "") + " LIMIT 1"
        with self._guard(), self._db.connect() as con:
            return con.execute(sql, {"queue": self.name, "now": time.time()}).fetchone() is not None

    def _take(self, count: int, hidden: float) -> list[Message]:
        """Move exhausted messages to the DLQ, then deliver up to `count`, in one transaction."""
        with self._transaction() as con:
            now = time.time()
            self._redrive(con, now)
            pick = f"SELECT seq FROM queue_messages WHERE {_READY}"
            pick += (_GROUP_FREE if self.fifo else "") + " ORDER BY seq LIMIT :count"
            rows = con.execute(
                "UPDATE queue_messages SET receive_count = receive_count + 1, "
                "visible_at = :until, receipt = lower(hex(randomblob(16))), "
                "first_received_at = coalesce(first_received_at, :now) "
                f"WHERE seq IN ({pick}) RETURNING {_COLUMNS}",
                {"queue": self.name, "now": now, "until": now + hidden, "count": count},
            ).fetchall()
        return [_message(row) for row in sorted(rows, key=lambda r: r[6])]

    def _redrive(self, con: sqlite3.Connection, now: float) -> None:
        if self.max_receives is None:
            return
        moved = con.execute(
            "UPDATE queue_messages SET queue = :dlq, visible_at = :now, receipt = NULL "
            f"WHERE {_READY} AND receive_count >= :max",
            {"dlq": self.dlq_name, "queue": self.name, "now": now, "max": self.max_receives},
        ).rowcount
        if moved:
            log.warning(
                "%s: %d message(s) moved to dead-letter queue %s", self.url, moved, self.dlq_name
            )

    # -- settling --------------------------------------------------------------------------
    def delete(self, message: Message) -> None:
        with self._guard(), self._db.connect() as con:
            gone = con.execute(
                "DELETE FROM queue_messages WHERE queue = ? AND id = ? AND receipt = ?",
                (self.name, message.id, message.receipt_handle),
            ).rowcount
            stale = (
                not gone
                and con.execute(
                    "SELECT 1 FROM queue_messages WHERE queue = ? AND id = ?",
                    (self.name, message.id),
                ).fetchone()
            )
        if stale:
            log.warning(
                "%s: message %s was not deleted: it was delivered again since this receipt",
                self.url,
                message.id,
            )

    def extend(self, message: Message, seconds: float) -> None:
        with self._guard(), self._db.connect() as con:
            changed = con.execute(
                "UPDATE queue_messages SET visible_at = ? WHERE queue = ? AND id = ? "
                "AND receipt = ?",
                (time.time() + max(seconds, 0.0), self.name, message.id, message.receipt_handle),
            ).rowcount
        if not changed:
            raise QueueError(
                self.url,
                f"message {message.id} is not in flight under this receipt (deleted, moved to "
                "the dead-letter queue, or delivered again to another consumer)",
            )

    # -- inspecting ------------------------------------------------------------------------
    def depth(self, *, in_flight: bool = False) -> int:
        sql = "SELECT count(*) FROM queue_messages WHERE queue = :queue"
        if not in_flight:
            sql += " AND visible_at <= :now"
        with self._guard(), self._db.connect() as con:
            return int(con.execute(sql, {"queue": self.name, "now": time.time()}).fetchone()[0])

    @property
    def dlq(self) -> LocalQueue | None:
        if self.dlq_name is None:
            return None
        return LocalQueue(
            self.dlq_name,
            self._folder,
            max_receives=None,
            visibility_timeout=self.visibility_timeout,
            poll_interval=self.poll_interval,
        )

    def close(self) -> None:
        self._closed = True

    # -- database access -------------------------------------------------------------------
    @contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite errors as QueueErrors naming the queue and its file."""
        if self._closed:
            raise QueueError(self.url, "the queue is closed")
        try:
            yield
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            cls = QueueUnavailable if busy else QueueError
            raise cls(self.url, f"{self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise QueueError(self.url, f"{self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (`BEGIN IMMEDIATE`: the write lock is taken up front)."""
        with self._guard(), self._db.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")


def _dlq_name(name: str, dlq: str | None) -> str:
    target = check_name(dlq) if dlq else dlq_name_for(name)
    if target == name:
        raise ConfigError(f"queue {name!r} cannot be its own dead-letter queue")
    if target.endswith(".fifo") != name.endswith(".fifo"):
        raise ConfigError(
            f"the dead-letter queue {target!r} of {name!r} must be FIFO exactly when the queue is"
        )
    return target


def _deduplicate(
    con: sqlite3.Connection, queue: str, token: str, message_id: str, now: float
) -> str | None:
    """The id of a message sent with `token` in the last five minutes, else None (and
    `message_id` is recorded under `token`)."""
    con.execute(
        "DELETE FROM queue_dedup WHERE queue = ? AND sent_at <= ?", (queue, now - DEDUP_WINDOW)
    )
    row = con.execute(
        "SELECT message_id FROM queue_dedup WHERE queue = ? AND dedup_id = ?", (queue, token)
    ).fetchone()
    if row is not None:
        return str(row[0])
    con.execute("INSERT INTO queue_dedup VALUES (?, ?, ?, ?)", (queue, token, message_id, now))
    return None


def _message(row: tuple[Any, ...]) -> Message:
    message_id, body, receipt, count, group, dedup, seq, sent_at, first = row
    attributes = {
        "SentTimestamp": str(int(sent_at * 1000)),
        "ApproximateReceiveCount": str(count),
        "ApproximateFirstReceiveTimestamp": str(int(first * 1000)),
    }
    if group is not None:
        attributes |= {
            "MessageGroupId": str(group),
            "MessageDeduplicationId": str(dedup),
            "SequenceNumber": str(seq),
        }
    return Message(
        id=str(message_id),
        body=str(body),
        receipt_handle=str(receipt),
        receive_count=int(count),
        group_id=None if group is None else str(group),
        attributes=attributes,
    )
