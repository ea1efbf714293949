"""A small threaded HTTP stub server with fault injection.

The server answers JSON from a *route table* — a mapping of URL path to a handler function
``(query) -> (status, body)`` — so one base serves any stand-in API (Open-Meteo today, an
OpenWeatherMap-compatible one later). In front of the routes sits a :class:`Faults` policy that
can answer 429 / 5xx, add latency or fail the first requests, which is what lets pipeline tests
exercise retries without touching the real internet.

It binds loopback only: it is a test double, never a service.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import random
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from strata.errors import ConfigError, StrataError

__all__ = ["Faults", "JsonBody", "Query", "RouteHandler", "StubServer", "error_body"]

Query = dict[str, list[str]]
JsonBody = dict[str, Any]
RouteHandler = Callable[[Query], tuple[int, JsonBody]]

# Statuses a random 5xx fault picks from: the ones real gateways and APIs hand out.
_RANDOM_5XX = (500, 502, 503, 504)
# Idle keep-alive connections are dropped after this long so a forgotten client cannot pin a
# handler thread forever.
_IDLE_TIMEOUT_S = 30.0
# How long stop() waits for each handler thread to notice its socket was shut down.
_JOIN_TIMEOUT_S = 2.0


def error_body(reason: str) -> JsonBody:
    """The error body Open-Meteo (and this stub) answers with: ``{"error": true, "reason": …}``."""
    return {"error": True, "reason": reason}


@dataclass(frozen=True)
class Faults:
    """What the stub does wrong, on purpose.

    Precedence per request: ``always_status``, then ``fail_first`` (503), then a random 429
    (``rate_429``), then a random 5xx (``rate_5xx``). ``latency_ms`` delays every answer,
    faulty or not. Random draws come from ``random.Random(seed)`` so a run is reproducible;
    assigning new faults to a running server restarts both the draws and the ``fail_first``
    count.
    """

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    latency_ms: float = 0.0
    retry_after: float = 1.0
    fail_first: int = 0
    always_status: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rate_429", "rate_5xx"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"Faults.{name} must be between 0 and 1, got {rate}")
        for name in ("latency_ms", "retry_after"):
            if getattr(self, name) < 0:
                raise ConfigError(f"Faults.{name} must be >= 0, got {getattr(self, name)}")
        if self.fail_first < 0:
            raise ConfigError(f"Faults.fail_first must be >= 0, got {self.fail_first}")
        if self.always_status is not None and not 100 <= self.always_status <= 599:
            raise ConfigError(
                f"Faults.always_status must be an HTTP status, got {self.always_status}"
            )


class _FaultPlan:
    """Decides, request by request, which fault (if any) applies. Thread-safe."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self.reset(faults)

    def reset(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)
            self._seen = 0

    def draw(self) -> tuple[Faults, int | None]:
        """The faults in force and the status to inject, or None to serve normally."""
        with self._lock:
            faults = self.faults
            self._seen += 1
            # Always draw the same number of values so the sequence does not depend on which
            # branch an earlier request took.
            r_429, r_5xx, pick = self._rng.random(), self._rng.random(), self._rng.random()
            seen = self._seen
        if faults.always_status is not None:
            return faults, faults.always_status
        if seen <= faults.fail_first:
            return faults, 503
        if r_429 < faults.rate_429:
            return faults, 429
        if r_5xx < faults.rate_5xx:
            return faults, _RANDOM_5XX[int(pick * len(_RANDOM_5XX))]
        return faults, None


def _fault_body(status: int) -> JsonBody:
    if status == 429:
        return error_body(
            "Too many requests. Minutely API request limit exceeded, try again later."
        )
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Injected fault"
    return error_body(f"{phrase} (injected by the stub server)")


def _format_seconds(seconds: float) -> str:
    # Retry-After is an integer in the RFC, but the stub allows fractions ("0.05") so tests stay
    # fast; print whole numbers without a trailing ".0".
    return f"{seconds:g}"


class _Httpd(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its StubServer and skips the reverse-DNS lookup."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], stub: StubServer) -> None:
        self.stub = stub
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall on a machine with slow
        # DNS; the stub knows its own name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer is normal under fault tests; stay quiet about it.
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    server_version = "strata-stub/1.0"
    sys_version = ""
    timeout = _IDLE_TIMEOUT_S
    # Headers and body leave in two writes; with Nagle on, delayed ACKs add ~40 ms per answer.
    disable_nagle_algorithm = True
    server: _Httpd

    def setup(self) -> None:
        super().setup()
        self.server.stub._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.stub._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: tests and pipeline logs should not fill with access lines.
        return

    def do_GET(self) -> None:
        self.server.stub._serve(self)

    def _method_not_allowed(self) -> None:
        # The body of a POST/PUT is not read, so drop the connection rather than desync it.
        self.close_connection = True
        self.send_json(405, error_body(f"Method {self.command} not allowed"))

    do_POST = do_PUT = do_PATCH = do_DELETE = _method_not_allowed

    def send_json(
        self, status: int, body: JsonBody, headers: Mapping[str, str] | None = None
    ) -> None:
        """Send ``body`` as UTF-8 JSON with Content-Length, so keep-alive works."""
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        # Counted before writing: a client that hung up still got its answer decided.
        self.server.stub._count(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


class StubServer:
    """A threaded JSON stub server on 127.0.0.1 serving a route table, with fault injection.

    Use as a context manager, or call :meth:`start` / :meth:`stop`::

        with StubServer({"/ping": lambda q: (200, {"ok": True})}) as server:
            httpx.get(server.url + "/ping")

    Port 0 (the default) picks a free port; :attr:`url` tells which.
    """

    def __init__(
        self,
        routes: Mapping[str, RouteHandler],
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
    ) -> None:
        _check_loopback(host)
        self.routes: dict[str, RouteHandler] = dict(routes)
        self.host = host
        self.port = port
        self._plan = _FaultPlan(faults or Faults())
        self._lock = threading.Lock()
        self._request_count = 0
        self._status_counts: dict[int, int] = {}
        self._httpd: _Httpd | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        """Bind and serve in a background thread; return the base URL. Idempotent."""
        if self._httpd is not None:
            return self.url
        try:
            httpd = _Httpd((self.host, self.port), self)
        except OSError as exc:
            raise ConfigError(
                f"stub server cannot listen on {self.host}:{self.port}: {exc}"
            ) from exc
        self._closing = False
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"stub-server-{httpd.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, drop open keep-alive connections and release the port. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        handlers = self._drop_connections()
        httpd.server_close()
        if thread is not None:
            thread.join()
        for handler in handlers:
            handler.join(_JOIN_TIMEOUT_S)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> StubServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- introspection ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:54321`` (only while running)."""
        if self._httpd is None:
            raise StrataError("stub server is not running; call start() first")
        return f"http://{self._httpd.server_name}:{self._httpd.server_port}"

    @property
    def faults(self) -> Faults:
        """The fault policy in force; assign a new :class:`Faults` to change it while running."""
        return self._plan.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._plan.reset(faults)

    @property
    def request_count(self) -> int:
        """Requests answered so far, faults included."""
        with self._lock:
            return self._request_count

    @property
    def status_counts(self) -> dict[int, int]:
        """A snapshot of how many answers went out per HTTP status."""
        with self._lock:
            return dict(self._status_counts)

    # -- request path (called from handler threads) -----------------------------------------

    def _serve(self, handler: _Handler) -> None:
        faults, injected = self._plan.draw()
        if faults.latency_ms > 0:
            time.sleep(faults.latency_ms / 1000.0)
        if injected is not None:
            headers = (
                {"Retry-After": _format_seconds(faults.retry_after)} if injected == 429 else {}
            )
            handler.send_json(injected, _fault_body(injected), headers)
            return
        status, body = self._route(handler.path)
        handler.send_json(status, body)

    def _route(self, target: str) -> tuple[int, JsonBody]:
        parts = urlsplit(target)
        route = self.routes.get(parts.path)
        if route is None:
            return 404, error_body(f"Not Found: {parts.path}")
        try:
            return route(parse_qs(parts.query, keep_blank_values=True))
        except Exception as exc:  # a bug in a handler must answer 500, not kill the thread
            return 500, error_body(f"Internal stub error: {type(exc).__name__}: {exc}")

    def _count(self, status: int) -> None:
        with self._lock:
            self._request_count += 1
            self._status_counts[status] = self._status_counts.get(status, 0) + 1

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections[conn] = threading.current_thread()
            closing = self._closing
        if closing:  # accepted while stop() was sweeping: hang up at once
            _shutdown_socket(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.pop(conn, None)

    def _drop_connections(self) -> list[threading.Thread]:
        # A keep-alive handler sits blocked reading the next request; shutting its socket down
        # wakes it with EOF so it exits and closes the socket itself.
        with self._lock:
            self._closing = True
            conns = dict(self._connections)
        for conn in conns:
            _shutdown_socket(conn)
        return [t for t in conns.values() if t is not threading.current_thread()]


def _shutdown_socket(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or ":" in host:
        # IPv6 is refused too: ThreadingHTTPServer binds an AF_INET socket.
        raise ConfigError(f"stub server binds loopback (127.0.0.1) only, not {host!r}")


def serve_in_foreground(
    server: StubServer, name: str, example: str, stop_event: threading.Event | None = None
) -> None:
    """Start `server`, print its URL and an example request (`example` is appended to the
    URL), and block until Ctrl-C or `stop_event` (for an embedding caller or a test)."""
    stop_event = stop_event or threading.Event()
    with server:
        print(f"{name} listening on {server.url}", flush=True)
        print(f"  try: {server.url}{example}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        try:
            # Wake periodically so Ctrl-C is handled promptly on every platform.
            while not stop_event.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("stopped", flush=True)
