"""An embedded PostgreSQL for machines without a server: `pgserver` from PyPI.

`pgserver` ships the PostgreSQL binaries in its wheel. The data directory lives in Strata's state
folder (`<state>/postgres`), so the database survives between commands (`strata generate`, then
`strata run`); the server listens on a Unix socket only and stops when the process exits.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from strata.db.postgres import connect_postgres, error_reason, leaks_password
from strata.db.urls import DatabaseUrl, redact
from strata.errors import DatabaseUnavailable, MissingDependency

EMBEDDED = "embedded"
_servers: dict[Path, Any] = {}


def embedded_postgres(state_path: Path) -> DatabaseUrl:
    """The URL of the embedded server's `postgres` database, starting the server if needed."""
    folder = (state_path / "postgres").resolve()
    if folder not in _servers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR in containers
                import pgserver
        except ImportError as exc:
            raise MissingDependency("pgserver", "embedded") from exc
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _servers[folder] = pgserver.get_server(folder, cleanup_mode="stop")
        except Exception as exc:
            reason = redact(str(exc).strip()) or type(exc).__name__
            raise DatabaseUnavailable(f"embedded PostgreSQL in {folder}", reason) from exc
    return DatabaseUrl.parse(_servers[folder].get_uri())


def ensure_database(url: DatabaseUrl, name: str) -> DatabaseUrl:
    """`url`'s server with database `name`, created if it does not exist (PostgreSQL).

    Failures raise DatabaseUnavailable with the URL and the driver's message redacted."""
    failure: DatabaseUnavailable | None = None
    with connect_postgres(url, autocommit=True) as con:
        try:
            with con.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = $1", parameters=(name,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {_quote(name)}")
        except Exception as exc:
            failure = DatabaseUnavailable(str(url), error_reason(url, exc))
            if not leaks_password(url, exc):
                raise failure from exc
    if failure is not None:
        raise failure  # outside the handler: no __context__ holding the password
    return url.with_database(name)


def _quote(name: str) -> str:
    """`name` as a quoted SQL identifier (any `"` doubled)."""
    return '"' + name.replace('"', '""') + '"'


def resolve_postgres(value: str, state_path: Path, database: str) -> DatabaseUrl:
    """A configured PostgreSQL URL as is, or for `embedded` the embedded server's `database`."""
    if value != EMBEDDED:
        return DatabaseUrl.parse(value)
    return ensure_database(embedded_postgres(state_path), database)
