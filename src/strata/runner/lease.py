"""A pipeline lease with a heartbeat: one run at a time; a crashed run's lease simply expires."""

from __future__ import annotations

import threading

from strata.errors import LeaseHeld
from strata.runner.store import RunStore


class Lease:
    """Held for the length of a run; a background thread renews it every `ttl / 3` seconds."""

    def __init__(self, store: RunStore, pipeline: str, owner: str, ttl: float) -> None:
        self.store = store
        self.pipeline = pipeline
        self.owner = owner
        self.ttl = ttl
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{pipeline}", daemon=True)

    def __enter__(self) -> Lease:
        taken, holder, left = self.store.acquire_lease(self.pipeline, self.owner, self.ttl)
        if not taken:
            raise LeaseHeld(self.pipeline, holder, left)
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            if not self.store.renew_lease(self.pipeline, self.owner, self.ttl):
                self.lost = True
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.store.release_lease(self.pipeline, self.owner)
