"""Queue fixtures: `make_queue` builds a fresh queue on each backend (local SQLite, moto SQS)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from strata.queues import Queue, ensure_queue, open_queue

MakeQueue = Callable[..., Queue]


@pytest.fixture(params=["local", "sqs"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_queue(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[MakeQueue]:
    """`make_queue(fifo=False, max_receives=None, visibility=30)`: a new, empty queue."""
    opened: list[Queue] = []

    def make(fifo: bool = False, max_receives: int | None = None, visibility: float = 30) -> Queue:
        name = f"q{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        if backend == "sqs":
            endpoint = request.getfixturevalue("aws_env")
            url = ensure_queue(
                name,
                max_receives=max_receives,
                visibility_timeout=visibility,
                endpoint_url=endpoint,
            )
            queue = open_queue(url, state_dir=tmp_path, visibility_timeout=visibility)
        else:
            queue = open_queue(
                f"local:{name}",
                state_dir=tmp_path / "state",
                max_receives=max_receives,
                visibility_timeout=visibility,
            )
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        queue.close()
