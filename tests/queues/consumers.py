"""A consumer process for the concurrency tests (importable, so `spawn` can start it)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from strata.queues import open_queue


def consume(queue_name: str, state_dir: str, out: str, start: Any, pause: float = 0.01) -> None:
    """Wait at the `start` barrier, then receive, record and delete (taking `pause` seconds
    a message) until the queue has been empty twice in a row; writes one JSON line per
    delivery (`body`, `group`, `at`: when it was received) to `out`."""
    idle = 0
    with open_queue(queue_name, state_dir=state_dir) as queue, Path(out).open("w") as lines:
        start.wait(30)
        while idle < 2:
            batch = queue.receive(max_messages=3, wait_seconds=0.3, visibility_timeout=60)
            received = time.time()
            idle = 0 if batch else idle + 1
            for message in batch:
                record = {"body": message.body, "group": message.group_id, "at": received}
                lines.write(json.dumps(record) + "\n")
                time.sleep(pause)
                queue.delete(message)
