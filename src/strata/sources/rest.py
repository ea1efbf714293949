"""REST extraction: many GETs with bounded concurrency, retries with backoff, Retry-After.

Built on httpx. A request that still fails after its retries is reported (key, status, reason),
never dropped. The transport is injectable so tests can use `httpx.MockTransport`.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from strata.errors import SourceError, SourceUnavailable

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How a request is retried: exponential backoff with full jitter, Retry-After honoured."""

    attempts: int = 5
    base_delay: float = 0.2
    backoff: float = 2.0
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        return rng.uniform(0, min(self.base_delay * self.backoff ** (attempt - 1), self.max_delay))


@dataclass(frozen=True)
class Fetch:
    """One GET to make: `key` names it in reports (e.g. a sensor id)."""

    key: str
    params: dict[str, Any]


@dataclass
class Fetched:
    """The outcome of one Fetch."""

    key: str
    ok: bool
    status: int | None
    body: Any = None
    error: str | None = None
    attempts: int = 0
    fetched_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError):
        return None  # malformed: fall back to our own backoff
    return max(0.0, parsed.timestamp() - time.time())


class RestSource:
    """GET JSON from one endpoint."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "api",
        concurrency: int = 16,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        seed: int | None = None,
    ) -> None:
        self.url = url
        self.name = name
        self.concurrency = concurrency
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.transport = transport
        self.rng = random.Random(seed)

    def get(self, params: dict[str, Any]) -> tuple[Any, httpx.Response]:
        """One request, no retries (the runner's Retry decides); raises on failure."""
        return asyncio.run(self._get_once(params))

    async def _get_once(self, params: dict[str, Any]) -> tuple[Any, httpx.Response]:
        async with self._client() as client:
            response = await self._send(client, params)
            return _json(self.name, response), response

    def fetch_all(
        self, fetches: Sequence[Fetch], on_done: Callable[[Fetched], None] | None = None
    ) -> list[Fetched]:
        """All fetches, `concurrency` at a time; results in the order given."""
        return asyncio.run(self._fetch_all(fetches, on_done))

    async def _fetch_all(
        self, fetches: Sequence[Fetch], on_done: Callable[[Fetched], None] | None
    ) -> list[Fetched]:
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency)
        async with self._client(limits) as client:

            async def one(fetch: Fetch) -> Fetched:
                async with gate:
                    outcome = await self._fetch(client, fetch)
                if on_done:
                    on_done(outcome)
                return outcome

            return list(await asyncio.gather(*(one(f) for f in fetches)))

    def _client(self, limits: httpx.Limits | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self.timeout, transport=self.transport, limits=limits or httpx.Limits()
        )

    async def _send(self, client: httpx.AsyncClient, params: dict[str, Any]) -> httpx.Response:
        try:
            response = await client.get(self.url, params=params)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(self.name, f"timeout after {self.timeout}s") from exc
        except httpx.TransportError as exc:
            raise SourceUnavailable(self.name, f"connection error: {exc}") from exc
        if response.status_code in RETRY_STATUSES:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            raise SourceUnavailable(
                self.name, f"HTTP {response.status_code}", retry_after, response.status_code
            )
        if response.status_code >= 400:
            raise SourceError(
                f"{self.name} answered HTTP {response.status_code}: {response.text[:200]}",
                status=response.status_code,
            )
        return response

    async def _fetch(self, client: httpx.AsyncClient, fetch: Fetch) -> Fetched:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send(client, fetch.params)
                return Fetched(
                    fetch.key,
                    True,
                    response.status_code,
                    _json(self.name, response),
                    attempts=attempt,
                )
            except SourceUnavailable as exc:
                if attempt >= self.retry.attempts:
                    return Fetched(fetch.key, False, exc.status, error=str(exc), attempts=attempt)
                await asyncio.sleep(self.retry.delay(attempt, exc.retry_after, self.rng))
            except SourceError as exc:
                return Fetched(fetch.key, False, exc.status, error=str(exc), attempts=attempt)


def _json(name: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise SourceError(
            f"{name} answered HTTP {response.status_code} with invalid JSON: "
            f"{response.text[:120]!r}",
            status=response.status_code,
        ) from exc
