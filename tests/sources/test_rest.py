"""RestSource: bounded concurrency, retries with backoff, Retry-After, and failure reports."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from strata.apis import Faults, StubServer
from strata.errors import SourceError, SourceUnavailable
from strata.sources import Fetch, Fetched, RestSource, RetryPolicy
from strata.sources.rest import retry_after_seconds

FAST = RetryPolicy(attempts=3, base_delay=0.001, backoff=2.0, max_delay=0.01)


def recording_policy(calls: list[tuple[int, float | None, float]], **kw: Any) -> RetryPolicy:
    """A RetryPolicy that records (attempt, retry_after, delay) of each retry."""

    class Recording(RetryPolicy):
        def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
            chosen = super().delay(attempt, retry_after, rng)
            calls.append((attempt, retry_after, chosen))
            return chosen

    return Recording(**{"attempts": 3, "base_delay": 0.001, "max_delay": 0.05, **kw})


def source(handler: Callable, **kw: Any) -> RestSource:
    return RestSource(
        "http://api.test/data",
        name="api",
        transport=httpx.MockTransport(handler),
        seed=1,
        **{"retry": FAST, **kw},
    )


def echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": request.url.params["id"]})


# --- RetryPolicy and Retry-After ---------------------------------------------------------


def test_retry_policy_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, backoff=2.0, max_delay=5.0)
    for attempt, cap in ((1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)):
        drawn = policy.delay(attempt, None, random.Random(attempt))
        assert 0 <= drawn <= cap
        assert drawn == random.Random(attempt).uniform(0, cap)
    assert policy.delay(1, 3.0, random.Random(0)) == 3.0  # Retry-After, exactly
    assert policy.delay(1, 90.0, random.Random(0)) == 5.0  # capped by max_delay


def test_retry_after_header_parsing() -> None:
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("") is None
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    future = retry_after_seconds("Fri, 31 Dec 9999 23:59:59 GMT")
    assert future is not None and future > 1e9


# --- fetch_all -------------------------------------------------------------------------------


def test_fetch_all_keeps_the_order_given() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params["id"])
        await asyncio.sleep(0.001 * (10 - n))  # later requests answer first
        return httpx.Response(200, json={"id": n, "q": request.url.params.get("q")})

    done: list[str] = []
    fetches = [Fetch(f"k{n}", {"id": n, "q": "x"}) for n in range(10)]
    results = source(handler, concurrency=10).fetch_all(
        fetches, on_done=lambda f: done.append(f.key)
    )
    assert [r.key for r in results] == [f"k{n}" for n in range(10)]
    assert [r.body["id"] for r in results] == list(range(10))
    assert all(r.ok and r.status == 200 and r.attempts == 1 and r.error is None for r in results)
    assert all(r.body["q"] == "x" for r in results)
    assert sorted(done) == sorted(f"k{n}" for n in range(10))


def test_fetch_all_of_nothing() -> None:
    assert source(echo).fetch_all([]) == []


def test_concurrency_is_bounded() -> None:
    in_flight = 0
    peak = 0
    full: asyncio.Event | None = None

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak, full
        full = full or asyncio.Event()
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= 3:
            full.set()
        # Hold the first requests until three are in flight (no timing involved); a lower
        # bound than 3 would time out here and show up as peak < 3.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(full.wait(), 2.0)
        await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, json={})

    results = source(handler, concurrency=3).fetch_all([Fetch(str(n), {}) for n in range(12)])
    assert all(r.ok for r in results)
    assert peak == 3


def test_429_with_retry_after_is_retried_and_honoured() -> None:
    seen: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.url.params["id"]
        seen[key] = seen.get(key, 0) + 1
        if seen[key] == 1:
            return httpx.Response(429, headers={"Retry-After": "0.02"}, json={"error": True})
        return httpx.Response(200, json={"id": key})

    calls: list[tuple[int, float | None, float]] = []
    results = source(handler, retry=recording_policy(calls)).fetch_all(
        [Fetch("a", {"id": "a"}), Fetch("b", {"id": "b"})]
    )
    assert [(r.ok, r.status, r.attempts, r.body) for r in results] == [
        (True, 200, 2, {"id": "a"}),
        (True, 200, 2, {"id": "b"}),
    ]
    assert calls == [(1, 0.02, 0.02), (1, 0.02, 0.02)]


def test_retry_after_is_capped_by_max_delay() -> None:
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "3600"}), httpx.Response(200, json=[1])]
    )
    calls: list[tuple[int, float | None, float]] = []
    [result] = source(
        lambda r: next(answers), retry=recording_policy(calls, max_delay=0.01)
    ).fetch_all([Fetch("k", {})])
    assert result.ok and result.body == [1]
    assert calls == [(1, 3600.0, 0.01)]


def test_5xx_exhausted_is_reported_not_raised() -> None:
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        return httpx.Response(503, json={"error": True})

    [result] = source(handler).fetch_all([Fetch("sensor-1", {"id": 1})])
    assert isinstance(result, Fetched)
    assert (result.key, result.ok, result.status, result.attempts) == ("sensor-1", False, 503, 3)
    assert "HTTP 503" in result.error
    assert result.body is None
    assert count == 3


def test_transport_errors_are_retried() -> None:
    answers: Iterator[Any] = iter(
        [
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json={"ok": 1}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    [result] = source(handler).fetch_all([Fetch("k", {})])
    assert (result.ok, result.attempts, result.body) == (True, 3, {"ok": 1})


def test_timeout_exhausted_reports_no_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    [result] = source(handler, timeout=1.5).fetch_all([Fetch("k", {})])
    assert (result.ok, result.status, result.attempts) == (False, None, 3)
    assert "timeout after 1.5s" in result.error


def test_4xx_is_not_retried() -> None:
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        return httpx.Response(400, json={"error": True, "reason": "bad latitude"})

    [result] = source(handler).fetch_all([Fetch("k", {})])
    assert count == 1
    assert (result.ok, result.attempts) == (False, 1)
    assert "HTTP 400" in result.error and "bad latitude" in result.error


def test_4xx_is_reported_with_its_status() -> None:
    [result] = source(lambda r: httpx.Response(404, json={})).fetch_all([Fetch("k", {})])
    assert result.status == 404


def test_invalid_json_is_a_source_error_reason() -> None:
    [result] = source(lambda r: httpx.Response(200, text="<html>oops")).fetch_all([Fetch("k", {})])
    assert (result.ok, result.attempts) == (False, 1)
    assert "invalid JSON" in result.error and "<html>oops" in result.error


def test_one_failure_does_not_drop_the_others() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["id"] == "bad":
            return httpx.Response(500)
        return echo(request)

    results = source(handler).fetch_all([Fetch(k, {"id": k}) for k in ("a", "bad", "c")])
    assert [(r.key, r.ok, r.status) for r in results] == [
        ("a", True, 200),
        ("bad", False, 500),
        ("c", True, 200),
    ]


def test_malformed_retry_after_falls_back_to_backoff() -> None:
    answers = iter(
        [httpx.Response(503, headers={"Retry-After": "soon"}), httpx.Response(200, json={})]
    )
    [result] = source(lambda r: next(answers)).fetch_all([Fetch("k", {})])
    assert (result.ok, result.attempts) == (True, 2)


# --- get --------------------------------------------------------------------------------------


def test_get_returns_body_and_response() -> None:
    body, response = source(echo).get({"id": "7"})
    assert body == {"id": "7"}
    assert response.status_code == 200


def test_get_raises_source_unavailable_on_5xx_without_retrying() -> None:
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        return httpx.Response(500, headers={"Retry-After": "7"})

    with pytest.raises(SourceUnavailable, match="HTTP 500") as caught:
        source(handler).get({})
    assert (caught.value.status, caught.value.retry_after, caught.value.source) == (500, 7.0, "api")
    assert count == 1


def test_get_raises_source_error_on_4xx_and_bad_json() -> None:
    with pytest.raises(SourceError, match="HTTP 403"):
        source(lambda r: httpx.Response(403, text="forbidden")).get({})
    with pytest.raises(SourceError, match="invalid JSON"):
        source(lambda r: httpx.Response(200, text="nope")).get({})


# --- real HTTP against the stub server ----------------------------------------------------------


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_get_connection_refused_is_unavailable() -> None:
    rest = RestSource(f"http://127.0.0.1:{unused_port()}/x", name="weather")
    with pytest.raises(SourceUnavailable, match="weather unavailable: connection error") as caught:
        rest.get({})
    assert caught.value.status is None


@pytest.fixture
def stub() -> Iterator[StubServer]:
    def data(query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        return 200, {"id": query["id"][0]}

    with StubServer({"/data": data}) as server:
        yield server


def test_stub_server_recovers_after_first_failures(stub: StubServer) -> None:
    stub.faults = Faults(fail_first=2)
    rest = RestSource(
        stub.url + "/data",
        concurrency=1,
        retry=RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01),
    )
    results = rest.fetch_all([Fetch("a", {"id": "a"}), Fetch("b", {"id": "b"})])
    assert [(r.ok, r.attempts, r.body) for r in results] == [
        (True, 3, {"id": "a"}),
        (True, 1, {"id": "b"}),
    ]
    assert stub.status_counts == {503: 2, 200: 2}


def test_stub_server_always_503_exhausts(stub: StubServer) -> None:
    stub.faults = Faults(always_status=503)
    rest = RestSource(stub.url + "/data", retry=FAST)
    results = rest.fetch_all([Fetch(k, {"id": k}) for k in "xyz"])
    assert [(r.key, r.ok, r.status, r.attempts) for r in results] == [
        (k, False, 503, 3) for k in "xyz"
    ]
    assert all("HTTP 503" in r.error for r in results)
    assert stub.request_count == 9


def test_stub_server_429_retry_after(stub: StubServer) -> None:
    stub.faults = Faults(rate_429=1.0, retry_after=0.01)
    calls: list[tuple[int, float | None, float]] = []
    rest = RestSource(stub.url + "/data", retry=recording_policy(calls, attempts=2))
    [result] = rest.fetch_all([Fetch("k", {"id": "k"})])
    assert (result.ok, result.status, result.attempts) == (False, 429, 2)
    assert calls == [(1, 0.01, 0.01)]


def test_stub_server_get_500(stub: StubServer) -> None:
    stub.faults = Faults(always_status=500)
    with pytest.raises(SourceUnavailable, match="HTTP 500"):
        RestSource(stub.url + "/data").get({"id": "1"})
    stub.faults = Faults()
    body, _ = RestSource(stub.url + "/data").get({"id": "1"})
    assert body == {"id": "1"}
