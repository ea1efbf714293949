"""connect_postgres: one ADBC connection helper, failures redacted."""

from __future__ import annotations

import socket

import adbc_driver_postgresql.dbapi as pg
import pytest

from strata.db import DatabaseUrl, connect_postgres
from strata.db.embedded import ensure_database
from strata.errors import ConfigError, DatabaseUnavailable


def _free_port() -> int:
    with socket.socket() as sock:  # nothing listens on it once the socket is closed
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+adbc"])
def test_connects_with_any_postgres_scheme(pg_url: str, scheme: str) -> None:
    url = scheme + "://" + pg_url.split("://", 1)[1]
    with connect_postgres(url) as con, con.cursor() as cur:
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)


def test_autocommit(pg_url: str) -> None:
    with connect_postgres(DatabaseUrl.parse(pg_url), autocommit=True) as con, con.cursor() as cur:
        cur.execute("CREATE TABLE t (x int)")
    with connect_postgres(pg_url) as con, con.cursor() as cur:
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchone() == (0,)


def test_unreachable_server_is_redacted() -> None:
    port = _free_port()
    with pytest.raises(DatabaseUnavailable) as caught:
        connect_postgres(f"postgresql://loader:p@ss-w0rd@127.0.0.1:{port}/wh")
    assert caught.value.url == f"postgresql://loader:***@127.0.0.1:{port}/wh"
    assert "\n" not in caught.value.reason
    for exc in _chain(caught.value):
        assert "p@ss-w0rd" not in str(exc)


def test_server_refusal_is_redacted(pg_url: str) -> None:
    parsed = DatabaseUrl.parse(pg_url)
    host = f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host or ""
    url = f"postgresql://{parsed.user}:wr0ng-s3cret@{host}/{parsed.database}_missing"
    with pytest.raises(DatabaseUnavailable) as caught:  # bad password or no such database
        connect_postgres(url)
    assert "wr0ng-s3cret" not in caught.value.url
    for exc in _chain(caught.value):
        assert "wr0ng-s3cret" not in str(exc)


def test_driver_message_echoing_the_password_is_scrubbed_and_not_chained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def echo(uri: str, **_: object) -> None:
        raise RuntimeError(f"bad conninfo {uri!r}: password=s3cret-pw\nsecond line")

    monkeypatch.setattr(pg, "connect", echo)
    with pytest.raises(DatabaseUnavailable) as caught:
        connect_postgres("postgresql+psycopg2://u:s3cret-pw@h/db")
    assert "s3cret-pw" not in str(caught.value)
    assert "second line" not in caught.value.reason
    assert "'postgresql://u:***@h/db'" in caught.value.reason
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_a_harmless_driver_error_is_chained(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(uri: str, **_: object) -> None:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(pg, "connect", refuse)
    with pytest.raises(DatabaseUnavailable) as caught:
        connect_postgres("postgresql://u:s3cret-pw@h/db")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_other_databases_are_refused() -> None:
    with pytest.raises(ConfigError):
        connect_postgres("mysql://u:pw@h/db")


def test_ensure_database_quotes_the_name(pg_url: str) -> None:
    name = f'{DatabaseUrl.parse(pg_url).database}_q"uote'
    created = ensure_database(DatabaseUrl.parse(pg_url), name)
    try:
        assert created.database == name
        assert ensure_database(DatabaseUrl.parse(pg_url), name) == created  # exists: no-op
        with connect_postgres(created) as con, con.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == (name,)
    finally:
        with connect_postgres(pg_url, autocommit=True) as con, con.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name.replace(chr(34), chr(34) * 2)}"')


def test_ensure_database_failure_is_redacted() -> None:
    url = DatabaseUrl.parse(f"postgresql://u:s3cret-pw@127.0.0.1:{_free_port()}/postgres")
    with pytest.raises(DatabaseUnavailable) as caught:
        ensure_database(url, "x")
    for exc in _chain(caught.value):
        assert "s3cret-pw" not in str(exc)
