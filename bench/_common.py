"""Small helpers shared by the benchmarks: a timer, a results table, the final JSON line."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
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


def ratio_of(numerator: float, denominator: float) -> float:
    """numerator / denominator, infinite when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else float("inf")


def run_side(
    script: str,
    side: str,
    workdir: Path,
    *,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run one side of a benchmark (`script --side SIDE --workdir DIR --option value …`) in a
    fresh interpreter; its last stdout line is its JSON result.

    Options become flags (`a_b=1` → `--a-b 1`; booleans → `--flag` / `--no-flag`). A side that
    fails, or outlives `timeout`, gives `{"error": ...}`; its whole process group (a JVM it
    started included) is stopped. The 1-minute load average before and after is recorded:
    other work on the machine skews wall times.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(Path(script).resolve()), "--side", side]
    command += ["--workdir", str(workdir)]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            command.append(flag if value else "--no-" + flag[2:])
        else:
            command += [flag, str(value)]
    load_before = os.getloadavg()[0]
    label = " ".join(f"{k}={v}" for k, v in options.items() if k not in ("lake", "url"))
    print(f"  running {side} {label} …", file=sys.stderr, flush=True)
    with subprocess.Popen(
        command,
        cwd=workdir,
        env=os.environ | (env or {}),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return {"error": f"stopped after {timeout:.0f} s"}
        finally:
            with contextlib.suppress(ProcessLookupError):  # whatever the side left running
                os.killpg(process.pid, signal.SIGKILL)
    if process.returncode != 0:
        return {"error": f"side {side} failed (exit {process.returncode}, see stderr)"}
    lines = [line for line in stdout.splitlines() if line.strip()]
    result: dict[str, Any] = json.loads(lines[-1])
    result["load_avg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(f"  {side}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result
