"""Database connections shared by sources and warehouse sinks: URLs, redaction, embedded server."""

from strata.db.urls import DatabaseUrl, redact

__all__ = ["DatabaseUrl", "redact"]
