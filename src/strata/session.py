"""The public entry points behind the CLI: run a pipeline, query the lake."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pyarrow as pa
from rich.console import Console

from strata.catalog import LakeCatalog, resolve_tables
from strata.config import Settings, load_settings
from strata.engines import get_engine
from strata.lake.storage import Lake
from strata.pipelines import get_pipeline
from strata.runner import RunContext, Runner, RunRecord, RunStore, new_run_id


def open_lake(settings: Settings) -> Lake:
    return Lake(settings.lake, s3_endpoint_url=settings.s3_endpoint_url, region=settings.aws_region)


def run_pipeline(
    name: str,
    *,
    settings: Settings | None = None,
    engine: str | None = None,
    full_refresh: bool = False,
    start_date: date | None = None,
    end_date: date | None = None,
    console: Console | None = None,
    show_progress: bool = False,
    runner: Runner | None = None,
    steps: Sequence[str] | None = None,
    run_id: str | None = None,
) -> RunRecord:
    """Run one pipeline to the end and return its record (status, error, metrics).

    `steps` runs only those steps (in pipeline order); `run_id` names the run (a Glue job run
    or a Step Functions execution passes its own). Raises LeaseHeld when another run of the
    same pipeline holds the lease, and ConfigError for bad settings or an unknown step; a
    failing step does not raise, it shows in the record.
    """
    settings = settings or load_settings()
    spec = get_pipeline(name)
    options = spec.options(settings.pipeline_options(name))
    pipeline = spec.build(options)
    if steps:
        # One or some steps alone (a Glue job, a rerun of one stage): each step reads what it
        # needs from the lake, so a subset runs exactly as it does inside the whole pipeline.
        chosen = {pipeline.step(name).name for name in steps}
        pipeline = replace(pipeline, steps=[s for s in pipeline.steps if s.name in chosen])
    lake = open_lake(settings)
    ctx = RunContext(
        run_id=run_id or new_run_id(),
        pipeline=name,
        settings=settings,
        lake=lake,
        engine_name=engine or settings.engine,
        full_refresh=full_refresh,
        start_date=start_date,
        end_date=end_date,
        options=options.model_dump(),
        models=spec.models(),
        show_progress=show_progress,
        console=console or Console(stderr=True),
    )
    runner = runner or Runner(RunStore(settings.state_path))
    return runner.run(pipeline, ctx)


def query(sql: str, settings: Settings | None = None, engine: str = "duckdb") -> pa.Table:
    """Run SQL over the lake: `layer.pipeline.table`, or `pipeline.table` for gold."""
    settings = settings or load_settings()
    catalog = LakeCatalog(open_lake(settings))
    resolved, refs = resolve_tables(sql, catalog.tables())
    # The engine's scratch goes to a throwaway folder: explaining leaves nothing behind.
    with (
        tempfile.TemporaryDirectory(prefix="strata-explain-") as scratch,
        get_engine(engine, settings.model_copy(update={"state_dir": scratch})) as session,
    ):
        for ref in refs:
            session.register(ref.relation, catalog.open(ref))
        return session.query(resolved)


@contextmanager
def _run_stores(settings: Settings, pipeline: str | None = None) -> Iterator[list[RunStore]]:
    """The run stores to read: the local state folder's, or, with `state_in_lake`, read-only
    copies of the pipelines' state databases in the lake (where deployed runs record)."""
    if not settings.state_in_lake:
        yield [RunStore(settings.state_path)]
        return
    from strata.runner.lake_state import lake_state_copies

    with lake_state_copies(settings, pipeline) as folders:
        yield [RunStore(folder) for folder in folders]


def run_history(
    settings: Settings, pipeline: str | None = None, limit: int = 20
) -> list[RunRecord]:
    with _run_stores(settings, pipeline) as stores:
        found = [run for store in stores for run in store.runs(pipeline, limit)]
    return sorted(found, key=lambda r: r.started_at, reverse=True)[:limit]


def describe_run(settings: Settings, run_id: str) -> dict[str, Any] | None:
    with _run_stores(settings) as stores:
        for store in stores:
            record = store.run(run_id)
            if record is not None:
                return {"run": record, "attempts": store.attempts(run_id)}
    return None


@dataclass(frozen=True)
class StepPlan:
    """Where one step runs; for SQL steps, each model with why it cannot run (None: it can)."""

    step: str
    runs_on: str
    work: str
    models: tuple[tuple[str, str | None], ...] = ()

    @property
    def runnable(self) -> bool:
        return all(problem is None for _, problem in self.models)


def explain(
    name: str, settings: Settings | None = None, engine: str | None = None
) -> list[StepPlan]:
    """Where each step of a pipeline runs on `engine`, without running anything.

    For Spark, every SQL model is rendered (full and incremental) and transpiled, its
    functions checked against the Spark session's catalog, so a model Spark cannot run is
    reported here, by name and construct, before a run.
    """
    from strata.errors import ModelError
    from strata.models.materialize import render

    settings = settings or load_settings()
    engine = engine or settings.engine
    spec = get_pipeline(name)
    pipeline = spec.build(spec.options(settings.pipeline_options(name)))
    models = spec.models()
    plans = []
    # The engine's scratch goes to a throwaway folder: explaining leaves nothing behind.
    with (
        tempfile.TemporaryDirectory(prefix="strata-explain-") as scratch,
        get_engine(engine, settings.model_copy(update={"state_dir": scratch})) as session,
    ):
        check = getattr(session, "transpile", None)  # engines whose SQL is not DuckDB's
        for step in pipeline.steps:
            if step.runs_on == "driver":
                plans.append(StepPlan(step.name, "driver", step.description))
                continue
            checked: list[tuple[str, str | None]] = []
            for model_name in step.models:
                model = models[model_name]
                try:
                    if check is not None:
                        for incremental in (False, True):
                            check(render(model, incremental))
                    checked.append((model.qualified_name, None))
                except ModelError as exc:
                    checked.append((model.qualified_name, exc.reason))
            dialect = (
                "DuckDB SQL" if check is None else f"transpiled to {session.dialect.title()} SQL"
            )
            work = f"SQL models, {dialect}" if step.models else "Python batches (map_batches)"
            plans.append(StepPlan(step.name, engine, work, tuple(checked)))
    return plans
