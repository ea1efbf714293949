"""Sources bring data into bronze.

The REST source (and httpx with it) loads on first use: pipelines that only read databases or
files do not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strata.sources.rest import Fetch, Fetched, RestSource, RetryPolicy

__all__ = ["Fetch", "Fetched", "RestSource", "RetryPolicy"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from strata.sources import rest

        return getattr(rest, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
