"""Database URLs: parse once, never print a password.

Accepted forms: `postgresql://user:pass@host:port/db` (also `postgres://`, and libpq's
`?host=/socket/dir`), `mysql://…` / `mariadb://…`, `duckdb:///path/to/file.duckdb`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from strata.errors import ConfigError

SCHEMES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "duckdb": "duckdb",
}
# `scheme://user:password@host`: the password runs to the LAST `@` of the authority (which
# ends at the first `/`, `?`, `#` or whitespace), so a raw `@` or `:` in it is covered too.
_PASSWORD = re.compile(
    r"(?P<head>://[^:/@?#\s]*:)(?P<password>[^/?#\s]*)(?P<tail>@[^@/?#\s]*(?=[/?#\s]|$))"
)
# libpq conninfo (`password=secret`, `password='se cret'`) and URL query (`?password=secret`).
_KEYWORD = re.compile(
    r"(?P<head>\b\w*(?:password|passwd|pwd)\s*=\s*)"
    r"(?P<password>'(?:[^'\\]|\\.)*'?|\"(?:[^\"\\]|\\.)*\"?|[^\s&;,'\")]+)",
    re.IGNORECASE,
)
MIN_RAW_PASSWORD = 4
"""Shorter passwords are not searched for as plain text (too many false hits)."""


def redact(text: str) -> str:
    """`text` with the password of every URL (`scheme://user:pw@host`) and of every
    `password=…` keyword in it replaced by `***`."""
    text = _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", text)
    return _KEYWORD.sub(lambda m: f"{m['head']}***", text)


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed database URL; `str()` is the redacted form, `.url` the usable one."""

    url: str
    kind: str  # postgresql | mysql | duckdb
    host: str | None
    port: int | None
    user: str | None
    password: str | None
    database: str
    query: dict[str, str]

    @classmethod
    def parse(cls, url: str) -> DatabaseUrl:
        parts = urlsplit(url)
        kind = SCHEMES.get(parts.scheme.split("+", 1)[0])
        if kind is None:
            raise ConfigError(
                f"unsupported database URL {redact(url)!r}: expected one of "
                "postgresql://, mysql://, mariadb://, duckdb:///path"
            )
        if kind == "duckdb":
            database = unquote(parts.netloc + parts.path)
            return cls(url, kind, None, None, None, None, database.lstrip("/") and database, {})
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return cls(
            url=url,
            kind=kind,
            host=parts.hostname or query.get("host"),
            port=parts.port,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            database=unquote(parts.path.lstrip("/")) or query.get("dbname", ""),
            query=query,
        )

    def __str__(self) -> str:
        return redact(self.url)

    @property
    def libpq(self) -> str:
        """The URL as libpq (and ADBC) accepts it: scheme `postgresql://` (from `postgres://`,
        `postgresql+adbc://`, `postgresql+psycopg2://`, …), everything else unchanged."""
        if self.kind != "postgresql":
            raise ConfigError(f"not a PostgreSQL URL: {self}")
        return "postgresql://" + self.url.split("://", 1)[1]

    def redact(self, text: str) -> str:
        """`text` without this URL's password: in URL and `password=` form (:func:`redact`),
        and, when it is at least MIN_RAW_PASSWORD characters long, anywhere as plain text
        (decoded or percent-encoded as in the URL), as drivers echo it."""
        text = redact(text)
        if self.password and len(self.password) >= MIN_RAW_PASSWORD:
            encoded = urlsplit(self.url).password or ""
            for secret in sorted({self.password, encoded} - {""}, key=len, reverse=True):
                text = text.replace(secret, "***")
        return text

    def with_database(self, database: str) -> DatabaseUrl:
        """The same server, another database."""
        parts = urlsplit(self.url)
        return DatabaseUrl.parse(parts._replace(path="/" + database).geturl())
