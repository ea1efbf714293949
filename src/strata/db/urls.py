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
_PASSWORD = re.compile(r"(?P<head>://[^:/@?#]*:)(?P<password>[^@/?#]*)(?P<tail>@)")


def redact(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***`."""
    return _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", text)


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

    def with_database(self, database: str) -> DatabaseUrl:
        """The same server, another database."""
        parts = urlsplit(self.url)
        return DatabaseUrl.parse(parts._replace(path="/" + database).geturl())
