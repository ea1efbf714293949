"""Strata's exception tree.

Every error Strata raises derives from :class:`StrataError`, so a caller can catch one
class. The runner retries only :class:`TransientError` subclasses; everything else fails the
step at once::

    StrataError
    ├── ConfigError            bad or missing settings, unknown names
    ├── TransientError         worth retrying: timeouts, 429, 5xx, a lease held by another run
    │   ├── SourceUnavailable
    │   ├── DatabaseUnavailable  a database could not be reached (connection refused, restart)
    │   └── LeaseHeld
    ├── TerminalError          retrying cannot help
    │   ├── SourceError        a source answered, but with something unusable
    │   ├── ModelError         a SQL model failed to compile or run
    │   ├── QualityError       a blocking quality rule failed above its threshold
    │   ├── StorageError       the lake could not be read or written
    │   └── WarehouseError     a warehouse load was refused (the target is left unchanged)
    ├── StepFailed             a pipeline step failed (wraps the cause)
    ├── LeaseLost              a run lost its lease mid-run
    └── MissingDependency      an optional extra is not installed
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class StrataError(Exception):
    """Root of every error Strata raises."""


class ConfigError(StrataError):
    """Settings are invalid, or a name does not exist."""


class TransientError(StrataError):
    """A failure that may go away when retried (the runner's Retry applies to these)."""


class TerminalError(StrataError):
    """A failure that retrying cannot fix."""


class SourceUnavailable(TransientError):
    """A source could not be reached or asked us to slow down."""

    def __init__(
        self, source: str, reason: str, retry_after: float | None = None, status: int | None = None
    ) -> None:
        self.source = source
        self.reason = reason
        self.retry_after = retry_after
        self.status = status
        super().__init__(f"{source} unavailable: {reason}")


class DatabaseUnavailable(TransientError):
    """A database could not be reached; `url` is already redacted (no password)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"database {url} unavailable: {reason}")


class LeaseHeld(TransientError):
    """Another run holds the pipeline's lease."""

    def __init__(self, pipeline: str, owner: str, expires_in: float) -> None:
        self.pipeline = pipeline
        self.owner = owner
        self.expires_in = expires_in
        super().__init__(
            f"pipeline {pipeline!r} is already running (run {owner}); its lease expires in "
            f"{expires_in:.0f}s unless renewed"
        )


class SourceError(TerminalError):
    """A source answered with data we cannot use (`status`: the HTTP status, if any)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ModelError(TerminalError):
    """A SQL model could not be compiled or executed."""

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(f"model {model}: {reason}")


class QualityError(TerminalError):
    """A blocking quality rule failed beyond its threshold."""


class StorageError(TerminalError):
    """The lake or the state store could not be read or written."""


class WarehouseError(TerminalError):
    """A warehouse load failed; the transaction was rolled back, so the target is unchanged."""

    def __init__(self, table: str, reason: str) -> None:
        self.table = table
        self.reason = reason
        super().__init__(f"warehouse table {table}: {reason}")


class LeaseLost(StrataError):
    """A run's lease expired under it (heartbeats failed), so it stopped before the next step."""


class MissingDependency(StrataError):
    """An optional dependency is needed; the message says what to install."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is not installed: pip install 'strata[{extra}]'")


class StepFailed(StrataError):
    """A pipeline step failed after its retries; ``__cause__`` holds the reason."""

    def __init__(self, step: str, run_id: str, cause: BaseException) -> None:
        self.step = step
        self.run_id = run_id
        self.cause = cause
        super().__init__(f"step {step!r} of run {run_id} failed: {cause}")


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> ConfigError:
    """A ConfigError for an unknown name, listing the choices and the closest match."""
    options = sorted(choices)
    close = difflib.get_close_matches(name, options, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(options) or "none"
    return ConfigError(f"unknown {kind} {name!r} (choices: {listed}){hint}")
