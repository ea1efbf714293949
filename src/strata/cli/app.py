"""Commands: pipelines, run, demo, generate, simulate, worker, schedule, secrets, runs, query,
tables, serve-api; export and tasks (strata.cli.aws)."""

from __future__ import annotations

import inspect
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from strata.cli import render
from strata.config import Settings, load_settings
from strata.errors import ConfigError, StrataError

app = typer.Typer(
    help="Strata: hybrid medallion data pipelines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)
_state: dict[str, Any] = {"debug": False}

LakeOpt = Annotated[
    str | None,
    typer.Option(
        "--lake", help="Lake folder or s3://bucket/prefix (default: ./lake or STRATA_LAKE)."
    ),
]
EnvOpt = Annotated[str | None, typer.Option("--env", help="Profile: dev or prod.")]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.INFO if verbose or debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _settings(lake: str | None, env: str | None) -> Settings:
    return load_settings(profile=env, lake=lake)


@app.command()
def pipelines() -> None:
    """List the pipelines Strata can run."""
    from strata.pipelines import get_pipeline, pipeline_names

    table = Table(title="pipelines", title_justify="left")
    for column in ("pipeline", "steps", "models", "description"):
        table.add_column(column)
    for name in pipeline_names():
        spec = get_pipeline(name)
        pipeline = spec.build(spec.options({}))
        table.add_row(
            name,
            " → ".join(s.name for s in pipeline.steps),
            ", ".join(spec.models()),
            spec.description,
        )
    out.print(table)


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from exc


@app.command()
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name (see `strata pipelines`).")],
    lake: LakeOpt = None,
    env: EnvOpt = None,
    engine: Annotated[
        str | None, typer.Option(help="Execution engine: duckdb or spark (default: profile).")
    ] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Ignore checkpoints, rebuild.")
    ] = False,
    start_date: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD).")] = None,
    end_date: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD).")] = None,
    step: Annotated[
        list[str] | None, typer.Option("--step", help="Run only this step (repeatable).")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show where each step runs; run nothing.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run a pipeline; exit code 0 on success, 1 on failure, 3 when partly successful."""
    from strata.session import describe_run, run_pipeline

    settings = _settings(lake, env)
    if explain:
        _explain(pipeline, settings, engine)
        return
    record = run_pipeline(
        pipeline,
        settings=settings,
        engine=engine,
        steps=step,
        full_refresh=full_refresh,
        start_date=_date(start_date, "--start-date"),
        end_date=_date(end_date, "--end-date"),
        show_progress=not quiet and sys.stderr.isatty(),
        console=err,
    )
    details = describe_run(settings, record.run_id) or {"attempts": []}
    out.print(render.steps_table(details["attempts"]))
    models = _models(record.metrics)
    if models:
        out.print(render.models_table(models))
    for model in models:
        if model.get("metrics"):
            out.print(render.metrics_table(f"{model['model']} quality metrics", model["metrics"]))
    for warning in record.metrics.get("warnings", []):
        err.print(f"[yellow]warning:[/] {warning}")
    duration = f"{record.duration:.2f}s" if record.duration else "-"
    out.print(
        f"run {record.run_id} [{render.STATUS_STYLE.get(record.status)}]{record.status}[/]"
        f" in {duration}; report: {settings.lake}/_runs/{pipeline}/{record.run_id}.json"
    )
    if record.status == "failed":
        err.print(f"[red]error:[/] {record.error}")
        raise typer.Exit(1)
    if record.status == "partial":
        raise typer.Exit(3)


def _explain(pipeline: str, settings: Settings, engine: str | None) -> None:
    from strata.session import explain

    plans = explain(pipeline, settings, engine)
    table = Table(title=f"{pipeline}: where each step runs", title_justify="left")
    for column in ("step", "runs on", "work", "models"):
        table.add_column(column)
    for plan in plans:
        models = "\n".join(
            f"{name.split('.')[-1]} [green]ok[/]"
            if problem is None
            else f"{name} [red]{problem}[/]"
            for name, problem in plan.models
        )
        table.add_row(plan.step, plan.runs_on, plan.work, models)
    out.print(table)
    blocked = [plan.step for plan in plans if not plan.runnable]
    if blocked:
        where = engine or settings.engine
        raise ConfigError(f"step(s) {', '.join(blocked)} of {pipeline} cannot run on {where}")


def _has_worker(pipeline: str) -> bool:
    from strata.pipelines import get_pipeline

    return hasattr(get_pipeline(pipeline).module, "worker_setup")


def _models(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for step in metrics.values():
        if isinstance(step, dict):
            found.extend(v for v in step.values() if isinstance(v, dict) and "model" in v)
    return found


@app.command()
def demo(
    lake: LakeOpt = None,
    env: EnvOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run every pipeline on its embedded defaults and print one summary table."""
    from strata.pipelines import pipeline_names
    from strata.session import run_pipeline

    settings = _settings(lake, env)
    summary = []
    for name in pipeline_names():
        err.print(f"[bold]running {name}[/] …")
        record = run_pipeline(
            name, settings=settings, console=err, show_progress=not quiet and sys.stderr.isatty()
        )
        summary.append(record)
        if record.status != "failed" and _has_worker(name):
            err.print(f"[bold]running the {name} worker[/] (the on-premise side) …")
            _run_worker(name, settings, once=True, wait=1)
    out.print(render.demo_table(summary))
    failed = [r for r in summary if r.status == "failed"]
    for record in failed:
        err.print(f"[red]error:[/] {record.pipeline}: {record.error}")
    out.print(f"lake: {settings.lake} — try:")
    out.print('  strata query "SELECT * FROM smartsensor.regional_daily LIMIT 5"')
    out.print('  strata query "SELECT * FROM retail_marts.sales_team_data_mart LIMIT 5"')
    out.print('  strata query "SELECT * FROM weather_sales.fact_daily_sales_weather LIMIT 5"')
    out.print("  strata query -f src/strata/pipelines/shopease/queries/top_products.sql")
    if failed:
        raise typer.Exit(1)


@app.command()
def generate(
    pipeline: Annotated[str, typer.Argument(help="The pipeline whose source to create.")],
    transactions: Annotated[
        int | None,
        typer.Option(
            help="Size of the main fact data: shopease transactions (default 1,020,500), "
            "retail_marts rows of the one-date sales file (default 400,000)."
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Source database URL (default: the pipeline's source_url setting)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same data.")] = 42,
    days: Annotated[
        int | None, typer.Option(help="Days of data, ending yesterday (weather_sales).")
    ] = None,
    lake: LakeOpt = None,
    env: EnvOpt = None,
) -> None:
    """Create a pipeline's sample source (drops and recreates its tables; retail_marts also
    writes its sales files into the landing area)."""
    from strata.pipelines import get_pipeline
    from strata.secrets import resolve as resolve_secret

    spec = get_pipeline(pipeline)
    hook = getattr(spec.module, "generate_source", None)
    if hook is None:
        raise ConfigError(f"pipeline {pipeline} has no source generator")
    settings = _settings(lake, env)
    options = spec.options(settings.pipeline_options(pipeline))
    if source is not None:
        source = resolve_secret(source)
    extra: dict[str, Any] = {}
    if days is not None:
        if "days" not in inspect.signature(hook).parameters:
            raise ConfigError(f"pipeline {pipeline} has no --days option")
        extra["days"] = days
    url, result = hook(
        settings,
        options,
        transactions=transactions,
        source=source,
        seed=seed,
        console=err,
        **extra,
    )
    _print_rows(f"{pipeline} source: {url}", result.rows, f"generated in {result.seconds:.1f} s")


def _print_rows(title: str, rows: dict[str, int], footer: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in rows.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    out.print(footer)


@app.command()
def simulate(
    pipeline: Annotated[str, typer.Argument(help="The pipeline whose source to change.")],
    changes: Annotated[int, typer.Option(help="Row changes (inserts and updates).")] = 100,
    source: Annotated[
        str | None,
        typer.Option(help="Source database URL (default: the pipeline's source_url setting)."),
    ] = None,
    lake: LakeOpt = None,
    env: EnvOpt = None,
) -> None:
    """Change a pipeline's sample source: inserts and updates with newer timestamps, to
    exercise incremental runs."""
    from strata.pipelines import get_pipeline
    from strata.secrets import resolve as resolve_secret

    spec = get_pipeline(pipeline)
    hook = getattr(spec.module, "simulate_source", None)
    if hook is None:
        raise ConfigError(f"pipeline {pipeline} has no source simulator")
    settings = _settings(lake, env)
    options = spec.options(settings.pipeline_options(pipeline))
    url, result = hook(
        settings, options, changes=changes, source=resolve_secret(source) if source else None
    )
    _print_rows(f"{pipeline} changes: {url}", result.rows, f"simulated in {result.seconds:.1f} s")


secrets_app = typer.Typer(help="Encrypt values for settings (fernet: references).")
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("key")
def secrets_key() -> None:
    """Print a new Fernet key: keep it in STRATA_SECRET_KEY (a vault, CI secret), not in git."""
    from strata.secrets import new_key

    out.print(new_key(), highlight=False)


@secrets_app.command("encrypt")
def secrets_encrypt(
    value: Annotated[str, typer.Argument(help="The secret; '-' reads it from stdin.")],
) -> None:
    """Print VALUE encrypted with STRATA_SECRET_KEY, as a `fernet:` reference for settings."""
    from strata.secrets import encrypt

    plaintext = sys.stdin.read().rstrip("\n") if value == "-" else value
    out.print(encrypt(plaintext), highlight=False, soft_wrap=True)


@secrets_app.command("decrypt")
def secrets_decrypt(
    reference: Annotated[str, typer.Argument(help="A `fernet:` reference (or bare token).")],
) -> None:
    """Print the plaintext of a `fernet:` reference (needs STRATA_SECRET_KEY)."""
    from strata.secrets import decrypt

    out.print(decrypt(reference), highlight=False, soft_wrap=True, markup=False)


@app.command()
def runs(
    pipeline: Annotated[str | None, typer.Argument(help="Only this pipeline.")] = None,
    lake: LakeOpt = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    run_id: Annotated[str | None, typer.Option("--run", help="Show one run's steps.")] = None,
    env: EnvOpt = None,
) -> None:
    """Run history: status, duration and error of recent runs (with `state_in_lake`, the
    history deployed runs keep in the lake)."""
    from strata.session import describe_run, run_history

    settings = _settings(lake, env)
    if run_id:
        details = describe_run(settings, run_id)
        if details is None:
            where = "the lake's state databases" if settings.state_in_lake else settings.state_path
            raise ConfigError(f"no run {run_id!r} in {where}")
        out.print(render.history_table([details["run"]]))
        out.print(render.steps_table(details["attempts"]))
        for delivery in details["run"].metrics.get("alerts", []):
            state = "ok" if delivery.get("ok") else "[red]FAILED[/]"
            out.print(f"alert via {delivery.get('channel')}: {state} ({delivery.get('detail')})")
        return
    out.print(render.history_table(run_history(settings, pipeline, limit)))


@app.command()
def query(
    sql: Annotated[
        str | None,
        typer.Argument(help="SQL; tables as layer.pipeline.table, or pipeline.table for gold."),
    ] = None,
    file: Annotated[Path | None, typer.Option("-f", "--file", help="Read SQL from a file.")] = None,
    lake: LakeOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    limit: Annotated[int, typer.Option(help="Rows shown in table format.")] = 200,
) -> None:
    """Query any lake table with SQL (DuckDB dialect)."""
    from strata.session import query as run_query

    if fmt not in ("table", "csv", "json"):
        raise ConfigError(f"--format {fmt!r}: choose table, csv or json")
    if (sql is None) == (file is None):
        raise ConfigError("give either SQL or -f FILE")
    text = file.read_text() if file else str(sql)
    result = run_query(text, _settings(lake, None))
    render.print_arrow(out, result, fmt, limit)


@app.command("tables")
def tables(lake: LakeOpt = None) -> None:
    """List the tables of the lake with their SQL names."""
    from strata.catalog import LakeCatalog
    from strata.session import open_lake

    catalog = LakeCatalog(open_lake(_settings(lake, None)))
    table = Table(title="lake tables", title_justify="left")
    table.add_column("name")
    table.add_column("layer")
    for ref in catalog.tables():
        table.add_row(str(ref), ref.layer)
    out.print(table)


@app.command("serve-api")
def serve_api(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8765,
    rate_429: Annotated[float, typer.Option(help="Share of requests answered 429.")] = 0.0,
    rate_5xx: Annotated[float, typer.Option(help="Share of requests answered 5xx.")] = 0.0,
    latency_ms: Annotated[float, typer.Option(help="Added latency per request.")] = 0.0,
) -> None:
    """Serve the embedded Open-Meteo archive stand-in until Ctrl-C."""
    from strata.apis import Faults, serve_forever

    serve_forever(
        "127.0.0.1", port, Faults(rate_429=rate_429, rate_5xx=rate_5xx, latency_ms=latency_ms)
    )


@app.command()
def worker(
    pipeline: Annotated[str, typer.Argument(help="The pipeline whose gold changes to sync.")],
    once: Annotated[
        bool, typer.Option("--once", help="Handle what is waiting, then exit.")
    ] = False,
    wait: Annotated[int, typer.Option(help="Long-poll wait per receive, seconds.")] = 10,
    lake: LakeOpt = None,
    env: EnvOpt = None,
) -> None:
    """The on-premise worker: pull gold-change messages from the pipeline's queue and merge
    each announced day into its warehouse (until SIGTERM, or with --once until empty)."""
    _run_worker(pipeline, _settings(lake, env), once=once, wait=wait)


def _run_worker(pipeline: str, settings: Settings, *, once: bool, wait: int) -> int:
    """Run the pipeline's worker; returns how many messages it synced."""
    from strata.pipelines import get_pipeline
    from strata.worker import Worker

    spec = get_pipeline(pipeline)
    hook = getattr(spec.module, "worker_setup", None)
    if hook is None:
        raise ConfigError(f"pipeline {pipeline} does not announce gold changes on a queue")
    setup = hook(settings, spec.options(settings.pipeline_options(pipeline)))
    err.print(f"worker: {pipeline}, queue {setup.queue_label}, lake {settings.lake}")
    with setup.open_queue() as queue:
        stats = Worker(
            settings,
            queue,
            lambda _: setup.target,
            console=err,
            wait_seconds=wait,
            visibility_timeout=setup.visibility_timeout,
            batch_rows=setup.batch_rows,
            concurrency=setup.concurrency,
        ).run(once=once)
    err.print(
        f"worker stopped: {stats.count('synced')} synced, {stats.count('retry')} to retry, "
        f"{stats.count('malformed')} malformed"
    )
    return stats.count("synced")


@app.command()
def schedule(
    pipeline: Annotated[
        list[str] | None, typer.Option("--pipeline", "-p", help="Only these pipelines.")
    ] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="Show what is scheduled and when, then exit.")
    ] = False,
    lake: LakeOpt = None,
    env: EnvOpt = None,
) -> None:
    """Run pipelines in the foreground on the profile's schedules, one at a time, never two
    runs of one pipeline at once; SIGTERM lets the current run finish, then stops."""
    import threading

    from strata.runner.schedule import Scheduler

    settings = _settings(lake, env)
    scheduler = Scheduler(settings, pipeline or None, console=err)
    table = Table(title=f"schedules of profile {settings.profile}", title_justify="left")
    for column in ("pipeline", "schedule", "next run (UTC)"):
        table.add_column(column)
    for entry in scheduler.plan:
        table.add_row(entry.pipeline, entry.expression, f"{entry.due:%Y-%m-%d %H:%M:%S}")
    out.print(table)
    if list_only:
        return
    outcomes = scheduler.run_forever(threading.Event())
    counts = {s: sum(o.status == s for o in outcomes) for s in ("succeeded", "partial")}
    counts |= {s: sum(o.status == s for o in outcomes) for s in ("failed", "skipped")}
    err.print("scheduler stopped: " + ", ".join(f"{n} {s}" for s, n in counts.items()))


def _register_aws_commands() -> None:
    from strata.cli.aws import export_app, tasks
    from strata.cli.catalog import catalog_app

    app.add_typer(export_app, name="export")
    app.add_typer(catalog_app, name="catalog")
    app.command("tasks")(tasks)


_register_aws_commands()


def main() -> None:
    """Entry point: one clear line per error, the traceback only with --debug."""
    try:
        # Without standalone mode click returns a command's `typer.Exit` code instead of
        # raising it: pass it on, or a failed run would exit 0.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except StrataError as exc:
        if _state["debug"]:
            raise
        err.print(f"[red]error:[/] {exc}")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own message
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
