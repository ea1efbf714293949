"""One way to open a PostgreSQL connection: ADBC, libpq URL, failures redacted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from strata.db.urls import DatabaseUrl
from strata.errors import ConfigError, DatabaseUnavailable

if TYPE_CHECKING:
    from adbc_driver_postgresql.dbapi import Connection


def connect_postgres(url: str | DatabaseUrl, *, autocommit: bool = False) -> Connection:
    """An ADBC connection to PostgreSQL `url` (`postgresql://`, `postgres://`,
    `postgresql+<driver>://`).

    Raises ConfigError for a URL that is not PostgreSQL, and DatabaseUnavailable (redacted URL,
    first line of the driver's message with the password removed) when the connection fails.
    The driver's exception is chained only when its text does not hold the password."""
    import adbc_driver_postgresql.dbapi as pg

    parsed = url if isinstance(url, DatabaseUrl) else DatabaseUrl.parse(url)
    if parsed.kind != "postgresql":
        raise ConfigError(f"not a PostgreSQL URL: {parsed}")
    try:
        return pg.connect(parsed.libpq, autocommit=autocommit)
    except Exception as exc:  # refused, bad login, no such database, bad URL
        failure = DatabaseUnavailable(str(parsed), error_reason(parsed, exc))
        if not leaks_password(parsed, exc):
            raise failure from exc
    raise failure  # outside the handler: no __context__ holding the password either


def error_reason(url: DatabaseUrl, exc: BaseException) -> str:
    """The first line of a driver error (with its SQLSTATE), `url`'s password removed."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate and sqlstate not in text:
        text += f" (SQLSTATE {sqlstate})"
    return url.redact(text)


def leaks_password(url: DatabaseUrl, exc: BaseException) -> bool:
    """Whether the text of `exc` shows `url`'s password (in any form redaction removes)."""
    text = str(exc)
    return bool(url.password and url.password in text) or url.redact(text) != text
