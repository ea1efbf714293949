"""Database URLs: parsing, libpq form, and redaction of passwords in every shape."""

from __future__ import annotations

import pytest

from strata.db import DatabaseUrl, redact
from strata.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "password", "shown"),
    [
        ("postgresql://u:secret@h/db", "secret", "postgresql://u:***@h/db"),
        ("postgresql://u:p@ss@h/db", "p@ss", "postgresql://u:***@h/db"),
        ("postgresql://u:p@s@s@h:5432/db", "p@s@s", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p:ss@h/db", "p:ss", "postgresql://u:***@h/db"),
        ("postgresql://u:p%2Fss@h/db", "p/ss", "postgresql://u:***@h/db"),
        ("postgresql://u:p%40ss@h/db", "p@ss", "postgresql://u:***@h/db"),
        ("mysql://u:p@ss@h:3306", "p@ss", "mysql://u:***@h:3306"),
        ("postgres://u:pw@h?sslmode=require", "pw", "postgres://u:***@h?sslmode=require"),
    ],
)
def test_password_is_parsed_and_redacted(url: str, password: str, shown: str) -> None:
    parsed = DatabaseUrl.parse(url)
    assert parsed.password == password
    assert parsed.host == "h"
    assert str(parsed) == redact(url) == shown


def test_empty_and_missing_password() -> None:
    empty = DatabaseUrl.parse("postgresql://u:@h/db")
    assert empty.password == ""
    assert str(empty) == "postgresql://u:***@h/db"
    assert empty.redact("connection to h failed") == "connection to h failed"
    none = DatabaseUrl.parse("postgresql://u@h:5432/db")
    assert none.password is None
    assert str(none) == "postgresql://u@h:5432/db"
    assert redact("postgresql://h:5432/db?x=a@b") == "postgresql://h:5432/db?x=a@b"


def test_redact_only_touches_the_authority() -> None:
    # An `@` in the path or query is not part of the password.
    text = "postgresql://u:pw@h/db?application_name=a@b"
    assert redact(text) == "postgresql://u:***@h/db?application_name=a@b"


def test_url_inside_a_longer_message() -> None:
    text = (
        "could not connect to 'postgresql://loader:p@ss:w0rd@db.internal:5432/wh' "
        "(user loader@db.internal), retrying; also mysql://root:x@y@m/z."
    )
    out = redact(text)
    assert "p@ss:w0rd" not in out and "x@y" not in out
    assert "'postgresql://loader:***@db.internal:5432/wh'" in out
    assert "(user loader@db.internal)" in out
    assert "mysql://root:***@m/z." in out


@pytest.mark.parametrize(
    "text",
    [
        "invalid connection option: host=h password=s3cret-pw dbname=x",
        "conninfo: host=h password = 's3cret-pw with space' dbname=x",
        "PGPASSWORD=s3cret-pw psql",
        "postgresql://u@h/db?password=s3cret-pw&sslmode=disable",
    ],
)
def test_keyword_passwords_are_redacted(text: str) -> None:
    out = redact(text)
    assert "s3cret-pw" not in out and "with space" not in out
    assert "***" in out


def test_keyword_redaction_keeps_the_rest() -> None:
    assert redact("host=h password=pw dbname=x") == "host=h password=*** dbname=x"
    assert redact("?password=pw&sslmode=disable") == "?password=***&sslmode=disable"
    assert redact("password authentication failed for user u") == (
        "password authentication failed for user u"
    )


def test_database_url_redacts_its_raw_password_anywhere() -> None:
    url = DatabaseUrl.parse("postgresql://u:p%40ss%2Fw0rd@h/db")
    assert url.password == "p@ss/w0rd"
    text = "FATAL: bad password 'p@ss/w0rd' (p%40ss%2Fw0rd) for postgresql://u:p%40ss%2Fw0rd@h/db"
    out = url.redact(text)
    assert "p@ss" not in out and "w0rd" not in out
    assert out == "FATAL: bad password '***' (***) for postgresql://u:***@h/db"


def test_short_raw_passwords_are_left_to_the_url_and_keyword_forms() -> None:
    url = DatabaseUrl.parse("postgresql://u:abc@h/db")
    # Three characters: too likely to be part of ordinary words to be replaced everywhere.
    assert url.redact("abcdef abc password=abc") == "abcdef abc password=***"
    assert url.redact("postgresql://u:abc@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@h:5432/db?sslmode=disable",
        "postgres://u:pw@h:5432/db?sslmode=disable",
        "postgresql+adbc://u:pw@h:5432/db?sslmode=disable",
        "postgresql+psycopg2://u:pw@h:5432/db?sslmode=disable",
    ],
)
def test_libpq_url(url: str) -> None:
    assert DatabaseUrl.parse(url).libpq == "postgresql://u:pw@h:5432/db?sslmode=disable"


def test_libpq_keeps_a_socket_directory() -> None:
    url = DatabaseUrl.parse("postgres://u@/db?host=/tmp/sock")
    assert url.libpq == "postgresql://u@/db?host=/tmp/sock"
    assert url.host == "/tmp/sock"


def test_libpq_refuses_other_databases() -> None:
    with pytest.raises(ConfigError):
        _ = DatabaseUrl.parse("mysql://u:pw@h/db").libpq
