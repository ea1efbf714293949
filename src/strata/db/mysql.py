"""One way to open a MySQL/MariaDB connection: PyMySQL, utf8mb4, failures redacted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strata.db.urls import DatabaseUrl, redact
from strata.errors import ConfigError, DatabaseUnavailable

if TYPE_CHECKING:
    from pymysql.connections import Connection


def connect_mysql(
    url: str | DatabaseUrl, *, database: bool = True, **options: Any
) -> Connection[Any]:
    """A PyMySQL connection to `url` (`mysql://` or `mariadb://`), in its database unless
    `database` is False; `options` go to `pymysql.connect` (autocommit, local_infile, …).

    Raises ConfigError for a URL of another kind and DatabaseUnavailable (redacted URL and
    message) when the server refuses or cannot be reached."""
    import pymysql

    parsed = url if isinstance(url, DatabaseUrl) else DatabaseUrl.parse(url)
    if parsed.kind != "mysql":
        raise ConfigError(f"not a MySQL/MariaDB URL: {parsed}")
    try:
        return pymysql.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 3306,
            user=parsed.user or "root",
            password=parsed.password or "",
            database=(parsed.database or None) if database else None,
            unix_socket=parsed.query.get("unix_socket"),
            charset="utf8mb4",
            connect_timeout=10,
            **options,
        )
    except pymysql.MySQLError as exc:
        lines = str(exc).strip().splitlines()
        raise DatabaseUnavailable(str(parsed), redact(lines[0] if lines else repr(exc))) from exc
