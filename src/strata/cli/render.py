"""Rich rendering of run results, history and query output.

Imports only Rich at load time: the CLI imports this module for every command, and pyarrow or
the runner (which brings the whole engine stack) are only needed by the commands that use them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pyarrow as pa

    from strata.runner import AttemptRecord, RunRecord

STATUS_STYLE = {
    "succeeded": "green",
    "partial": "yellow",
    "failed": "red",
    "running": "cyan",
    "abandoned": "magenta",
    "built": "green",
    "skipped": "dim",
}


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def steps_table(attempts: list[AttemptRecord]) -> Table:
    table = Table(title="steps", title_justify="left")
    for column in ("step", "status", "attempts", "rows in", "rows out", "duration", "error"):
        table.add_column(column, justify="right" if column.startswith(("rows", "att")) else "left")
    last: dict[str, AttemptRecord] = {}
    for attempt in attempts:
        last[attempt.step] = attempt
    for step, attempt in last.items():
        duration = None if attempt.ended_at is None else attempt.ended_at - attempt.started_at
        table.add_row(
            step,
            _status(attempt.status),
            str(attempt.attempt),
            _count(attempt.rows_in),
            _count(attempt.rows_out),
            _seconds(duration),
            _short(attempt.error),
        )
    return table


def _short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    return text if len(text) <= width else text[: width - 1] + "…"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def models_table(models: list[dict[str, Any]]) -> Table:
    table = Table(title="tables", title_justify="left")
    for column in ("table", "status", "rows in", "rows out", "quarantined", "quality", "version"):
        table.add_column(column, justify="left" if column in ("table", "status") else "right")
    for model in models:
        quality = model.get("quality") or {}
        score = quality.get("score")
        table.add_row(
            model["model"],
            _status(model["status"]),
            _count(model.get("rows_in")),
            _count(model.get("rows_out")),
            _count(model.get("quarantined")),
            "-" if score is None else f"{score:.1f}",
            str(model.get("version")),
        )
    return table


def metrics_table(title: str, metrics: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        table.add_row(key, shown)
    return table


def demo_table(records: list[RunRecord]) -> Table:
    """One line per pipeline: tables written, rows, duration and mean quality score."""
    table = Table(title="strata demo", title_justify="left")
    for column in ("pipeline", "status", "tables", "rows", "duration", "quality score"):
        table.add_column(column, justify="left" if column in ("pipeline", "status") else "right")
    for record in records:
        models = [
            m
            for step in record.metrics.values()
            if isinstance(step, dict)
            for m in step.values()
            if isinstance(m, dict) and "model" in m
        ]
        scores = [m["quality"]["score"] for m in models if m.get("quality")]
        score = f"{sum(scores) / len(scores):.1f}" if scores else "-"
        table.add_row(
            record.pipeline,
            _status(record.status),
            str(len(models)),
            f"{sum(m.get('rows_out') or 0 for m in models):,}",
            _seconds(record.duration),
            score,
        )
    return table


def history_table(runs: list[RunRecord]) -> Table:
    table = Table(title="runs", title_justify="left")
    for column in (
        "run id",
        "pipeline",
        "status",
        "profile",
        "engine",
        "started",
        "duration",
        "error",
    ):
        table.add_column(column)
    for run in runs:
        from datetime import UTC, datetime

        started = datetime.fromtimestamp(run.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            run.run_id,
            run.pipeline,
            _status(run.status),
            run.profile or "",
            run.engine or "",
            started,
            _seconds(run.duration),
            (run.error or "")[:80],
        )
    return table


def print_arrow(console: Console, data: pa.Table, fmt: str, limit: int = 200) -> None:
    """A query result as a table (first `limit` rows), CSV or JSON lines."""
    if fmt == "csv":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        sink = pa.BufferOutputStream()
        pacsv.write_csv(data, sink)
        console.out(sink.getvalue().to_pybytes().decode(), end="")
        return
    if fmt == "json":
        for row in data.to_pylist():
            console.out(json.dumps(row, default=str))
        return
    table = Table(show_lines=False)
    for name in data.column_names:
        table.add_column(name)
    for row in data.slice(0, limit).to_pylist():
        table.add_row(*("NULL" if v is None else str(v) for v in row.values()))
    console.print(table)
    more = f" (showing {limit})" if data.num_rows > limit else ""
    console.print(f"[dim]{data.num_rows:,} rows{more}[/]")
