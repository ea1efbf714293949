"""Database connections shared by sources and warehouse sinks: URLs, redaction, embedded server."""

from strata.db.postgres import connect_postgres
from strata.db.urls import DatabaseUrl, redact

__all__ = ["DatabaseUrl", "connect_postgres", "redact"]
