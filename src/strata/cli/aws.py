"""AWS commands: `strata export asl` (state machines) and `strata tasks` (callback worker)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from strata.config import Settings, load_settings
from strata.errors import ConfigError

export_app = typer.Typer(help="Export pipelines for other runtimes (AWS Step Functions).")
out = Console()
err = Console(stderr=True)


def _definition(name: str, settings: Settings, resources: Any) -> dict[str, Any]:
    from strata.aws.asl import state_machine
    from strata.pipelines import get_pipeline

    spec = get_pipeline(name)
    pipeline = spec.build(spec.options(settings.pipeline_options(name)))
    return state_machine(pipeline, settings.profile, resources)


@export_app.command("asl")
def export_asl(
    pipelines: Annotated[
        list[str] | None, typer.Argument(help="Pipelines to export (or --all).")
    ] = None,
    all_pipelines: Annotated[bool, typer.Option("--all", help="Every pipeline.")] = False,
    env: Annotated[str | None, typer.Option("--env", help="Profile: dev or prod.")] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Write <pipeline>.asl.json files here (default: stdout)."),
    ] = None,
    engine_steps: Annotated[
        str, typer.Option(help="Where engine steps run: glue (Spark) or lambda (DuckDB).")
    ] = "glue",
    callback_queue: Annotated[
        str | None,
        typer.Option(
            help="Send every task to this SQS queue with a task token, for `strata tasks` "
            "workers (on premise, ECS) instead of Lambda and Glue."
        ),
    ] = None,
) -> None:
    """Amazon States Language for pipelines, with the local runner's Retry and failure path."""
    from strata.aws.asl import TaskResources, to_json
    from strata.pipelines import pipeline_names

    names = pipeline_names() if all_pipelines else list(pipelines or [])
    if not names:
        raise ConfigError("name the pipelines to export, or pass --all")
    if engine_steps not in ("glue", "lambda"):
        raise ConfigError(f"--engine-steps must be glue or lambda, not {engine_steps!r}")
    resources = TaskResources(
        mode="callback" if callback_queue else "aws",
        engine_steps=engine_steps,  # type: ignore[arg-type]
        callback_queue_url=callback_queue or "",
    )
    settings = load_settings(profile=env)
    if out_dir is None and len(names) > 1:
        raise ConfigError("more than one pipeline: give --out DIR for one file each")
    for name in names:
        text = to_json(_definition(name, settings, resources))
        if out_dir is None:
            out.out(text, end="")
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{name}.asl.json"
        target.write_text(text)
        err.print(f"wrote {target}")


def tasks(
    queue: Annotated[str, typer.Option("--queue", help="The SQS queue URL the tasks come on.")],
    once: Annotated[
        bool, typer.Option("--once", help="Handle what is waiting, then exit.")
    ] = False,
    wait: Annotated[int, typer.Option(help="Long-poll wait per receive, seconds.")] = 20,
    env: Annotated[str | None, typer.Option("--env", help="Profile: dev or prod.")] = None,
) -> None:
    """Run the tasks of callback-mode state machines (`export asl --callback-queue`) until
    SIGTERM, or with --once until the queue is empty."""
    import threading

    from strata.aws.tasks import TaskWorker
    from strata.queues import open_queue
    from strata.runner.signals import stop_on_signals

    settings = load_settings(profile=env)
    stopped = threading.Event()
    with (
        stop_on_signals(stopped),
        open_queue(
            queue, state_dir=settings.state_path, endpoint_url=settings.aws_endpoint_url
        ) as source,
    ):
        worker = TaskWorker(source, _sfn_client(settings), wait_seconds=wait)
        outcomes = worker.run(once=once, stop=stopped.is_set)
    kinds = ("succeeded", "failed", "malformed", "expired")
    counts = {s: sum(o.status == s for o in outcomes) for s in kinds}
    err.print("task worker stopped: " + ", ".join(f"{n} {s}" for s, n in counts.items()))


def _sfn_client(settings: Settings) -> Any:
    from strata.aws.clients import client_for

    return client_for("stepfunctions", settings)
