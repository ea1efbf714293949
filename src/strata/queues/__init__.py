"""Message queues: Amazon SQS, or an embedded durable queue in the state folder.

    with open_queue(settings_queue_url, state_dir=settings.state_path) as queue:
        queue.send(json.dumps(event), group_id=table, dedup_id=f"{table}:{version}")

    for message in queue.receive(wait_seconds=20, visibility_timeout=60):
        with keep_visible(queue, message, every=20, extend_by=60) as heartbeat:
            sync(message.body)          # commit in the database ...
        queue.delete(message)           # ... then delete: at-least-once, never lost

Delivery semantics (visibility, receive counts, dead letters, FIFO groups, deduplication) are
in `strata.queues.base`; differences between the backends in `local` and `sqs`.
"""

from __future__ import annotations

from pathlib import Path

from strata.errors import ConfigError
from strata.queues.base import (
    DEFAULT_GROUP,
    DEFAULT_MAX_RECEIVES,
    DEFAULT_VISIBILITY,
    DEFAULT_WAIT,
    Heartbeat,
    Message,
    Queue,
    QueueError,
    QueueNotFound,
    QueueUnavailable,
    keep_visible,
)
from strata.queues.local import LOCAL_PREFIX, LocalQueue
from strata.queues.sqs import SQSQueue, ensure_queue

DEFAULT_LOCAL_QUEUE = "strata.fifo"
"""The local queue an empty queue setting means (FIFO: ordered per group, deduplicated)."""

__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_LOCAL_QUEUE",
    "DEFAULT_MAX_RECEIVES",
    "DEFAULT_VISIBILITY",
    "DEFAULT_WAIT",
    "Heartbeat",
    "LocalQueue",
    "Message",
    "Queue",
    "QueueError",
    "QueueNotFound",
    "QueueUnavailable",
    "SQSQueue",
    "ensure_queue",
    "keep_visible",
    "open_queue",
]


def open_queue(
    url_or_name: str | None,
    *,
    state_dir: Path | str,
    endpoint_url: str | None = None,
    region: str | None = None,
    dlq: str | None = None,
    max_receives: int | None = DEFAULT_MAX_RECEIVES,
    visibility_timeout: float = DEFAULT_VISIBILITY,
) -> Queue:
    """The queue a setting names.

    * `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` or an emulator's `http://HOST:PORT/...`:
      that SQS queue (it must exist: see `ensure_queue`). Its redrive policy decides the
      dead-letter queue, so `dlq` and `max_receives` do not apply.
    * `local:NAME`, or empty/None for `DEFAULT_LOCAL_QUEUE`: the embedded queue NAME in
      `<state_dir>/queues.db`, whose messages go to `dlq` (default `NAME-dlq`) when they come
      back after `max_receives` receives (None: never).

    `visibility_timeout` is the default of `receive`. No network call is made here: a wrong
    URL shows at the first operation, as `QueueNotFound` or `QueueUnavailable`.
    """
    target = (url_or_name or "").strip()
    if target.startswith(("https://", "http://")):
        return SQSQueue(
            target,
            endpoint_url=endpoint_url,
            region=region,
            visibility_timeout=visibility_timeout,
        )
    if not target or target.startswith(LOCAL_PREFIX):
        return LocalQueue(
            target[len(LOCAL_PREFIX) :] or DEFAULT_LOCAL_QUEUE,
            state_dir,
            dlq=dlq,
            max_receives=max_receives,
            visibility_timeout=visibility_timeout,
        )
    raise ConfigError(
        f"queue {target!r}: expected an SQS queue URL "
        "(https://sqs.REGION.amazonaws.com/ACCOUNT/NAME) or local:NAME"
    )
