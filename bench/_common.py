"""Small helpers shared by the benchmarks: a timer, a results table, the final JSON line."""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Timing:
    """Wall-clock seconds of a `timer()` block (set when the block ends)."""

    seconds: float = 0.0


@contextmanager
def timer() -> Iterator[Timing]:
    """Time a block with `time.perf_counter`: `with timer() as t: ...; t.seconds`."""
    timing = Timing()
    start = time.perf_counter()
    try:
        yield timing
    finally:
        timing.seconds = time.perf_counter() - start


@dataclass(frozen=True)
class Result:
    """One row of a results table."""

    approach: str
    rows: int
    seconds: float
    requests: int | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def wide_console(min_width: int = 110) -> Console:
    """A stdout console at least `min_width` wide, so piped output does not wrap tables."""
    return Console(width=max(Console().width, min_width))


def results_table(title: str, results: Sequence[Result], caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption)
    table.add_column("approach")
    for column in ("rows", "seconds", "rows/s", "requests"):
        table.add_column(column, justify="right")
    for r in results:
        requests = "-" if r.requests is None else f"{r.requests:,}"
        table.add_row(
            r.approach, f"{r.rows:,}", f"{r.seconds:.2f}", f"{r.rows_per_second:,.0f}", requests
        )
    return table


def print_results(
    title: str,
    results: Sequence[Result],
    caption: str | None = None,
    console: Console | None = None,
) -> None:
    (console or wide_console()).print(results_table(title, results, caption))


def emit_json(payload: dict[str, Any]) -> None:
    """Print the machine-readable result; callers print nothing to stdout after this."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()
