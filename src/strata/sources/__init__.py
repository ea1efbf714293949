"""Sources bring data into bronze."""

from strata.sources.rest import Fetch, Fetched, RestSource, RetryPolicy

__all__ = ["Fetch", "Fetched", "RestSource", "RetryPolicy"]
