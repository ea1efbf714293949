"""Gold (or silver) Delta tables into a warehouse: the load step pipelines share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strata.db.urls import DatabaseUrl
from strata.lake.delta import DeltaTableIO
from strata.runner.context import RunContext
from strata.runner.pipeline import StepResult
from strata.sinks.base import Mode


def sync_models(
    ctx: RunContext,
    url: DatabaseUrl,
    names: Sequence[str],
    *,
    schema: str | None = None,
    mode: Mode = "replace",
    batch_rows: int = 250_000,
) -> StepResult:
    """Load each named model's Delta table into the warehouse at `url`, keyed by the model's
    `unique_key`, one transaction per table (`mode` as `Warehouse.load` takes it). A model
    whose table was never built is skipped."""
    from strata.sinks import open_warehouse

    metrics: dict[str, Any] = {"warehouse": str(url), "schema": schema}
    rows = 0
    with (
        open_warehouse(url.url, schema=schema) as warehouse,
        ctx.progress("load into the warehouse", len(names)) as bar,
    ):
        for name in names:
            model = ctx.models[name]
            dataset = DeltaTableIO(ctx.lake, model.table_path).dataset()
            if dataset is not None:
                # A threaded pyarrow scan decodes ahead of a slower consumer into a queue that
                # only pauses at 1 GiB; the load is the bottleneck, so read on this thread.
                scanner = dataset.scanner(
                    batch_size=batch_rows,
                    batch_readahead=1,
                    fragment_readahead=1,
                    use_threads=False,
                )
                result = warehouse.load(
                    name, scanner.to_reader(), mode=mode, key=list(model.unique_key)
                )
                metrics[name] = result.to_dict()
                rows += result.rows
            bar.advance(bar.task_ids[0])
    return StepResult(rows_out=rows, metrics=metrics)
