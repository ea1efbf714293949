"""AWS Lambda handlers: one step of one pipeline per invocation, as Step Functions asks.

The four functions (`ingest`, `process`, `load`, `notify`; see `strata.aws.asl.step_role`)
run the same code — the library's own steps through `run_pipeline` — and differ in what AWS
gives them: IAM rights, memory, timeout. Each refuses a step of another role, so a miswired
state machine fails loudly instead of running with the wrong rights.

Event (built by the exported state machine)::

    {"action": "step", "pipeline": "totesys", "step": "ingest", "env": "prod",
     "execution": "<execution name>", "retry": 0, "input": {<execution input>}}

The execution input may hold `full_refresh`, `start_date`, `end_date` (YYYY-MM-DD) and
`engine`. The step runs once (`Runner(orchestrated=True)`): Step Functions owns retries, by
the error name the handler raises — the class name of the step's own exception, which is what
the exported Retry clauses list. `{"action": "alert", ...}` (the `notify` function, on the
failure path) sends the profile's alerts for the failed step.

Settings come from the environment as for `strata run` (`STRATA_ENV`, `STRATA_LAKE`,
`STRATA_STATE_DIR`, `STRATA_<PIPELINE>__<OPTION>`, secrets by reference). Deployed, the
functions set `STRATA_STATE_IN_LAKE=true`: the state database (run history, file ledger,
checkpoints) lives in the lake between invocations (`strata.runner.lake_state`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from strata.config import Settings, load_settings
from strata.errors import ConfigError, StepFailed
from strata.runner import Runner, RunStore
from strata.runner.lake_state import lake_state

log = logging.getLogger("strata.aws.lambdas")

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def handle(
    event: dict[str, Any], context: Any = None, *, role: str | None = None
) -> dict[str, Any]:
    """Run what `event` asks for; raise the step's own error when it fails."""
    action = event.get("action", "step")
    if action == "step":
        return run_step(event, role=role)
    if action == "alert":
        return send_failure_alert(event)
    raise ConfigError(f"unknown action {action!r} in the event (step or alert)")


def _settings(event: dict[str, Any]) -> Settings:
    return load_settings(profile=event.get("env") or None)


def step_run_id(event: dict[str, Any]) -> str:
    """`<execution>.<step>.<retry>`: one run per task attempt, named after the execution."""
    execution, step = _required(event, "execution"), _required(event, "step")
    return f"{execution}.{step}.{int(event.get('retry') or 0)}"


def _required(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not value or not isinstance(value, str):
        raise ConfigError(f"the event has no {key!r} (got keys: {sorted(event)})")
    return value


def _day(inputs: dict[str, Any], key: str) -> date | None:
    value = inputs.get(key)
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"execution input {key!r}: {value!r} is not YYYY-MM-DD") from exc


def _inputs(event: dict[str, Any]) -> dict[str, Any]:
    raw = event.get("input") or {}
    if isinstance(raw, str):  # some integrations pass the execution input as JSON text
        raw = json.loads(raw or "{}")
    if not isinstance(raw, dict):
        raise ConfigError(f"the execution input must be a JSON object, not {raw!r}")
    return raw


def run_step(event: dict[str, Any], *, role: str | None = None) -> dict[str, Any]:
    """Run the event's step once; the step's result, or its own exception raised. With
    `state_in_lake`, the state database comes from the lake and goes back after the step."""
    pipeline, step = _required(event, "pipeline"), _required(event, "step")
    settings = _settings(event)
    with lake_state(settings, pipeline):
        return _run_step(event, settings, pipeline, step, role)


def _run_step(
    event: dict[str, Any], settings: Settings, pipeline: str, step: str, role: str | None
) -> dict[str, Any]:
    from strata.aws.asl import step_role
    from strata.pipelines import get_pipeline
    from strata.session import run_pipeline

    spec = get_pipeline(pipeline)
    chosen = spec.build(spec.options(settings.pipeline_options(pipeline))).step(step)
    if role is not None and step_role(chosen) != role:
        raise ConfigError(
            f"step {pipeline}.{step} belongs to the {step_role(chosen)} function, not {role}"
        )
    inputs = _inputs(event)
    runner = Runner(RunStore(settings.state_path), orchestrated=True)
    run_id = step_run_id(event)
    record = run_pipeline(
        pipeline,
        settings=settings,
        engine=inputs.get("engine") or None,
        full_refresh=bool(inputs.get("full_refresh", False)),
        start_date=_day(inputs, "start_date"),
        end_date=_day(inputs, "end_date"),
        steps=[step],
        run_id=run_id,
        runner=runner,
    )
    if record.status == "failed":
        log.error("%s.%s run %s failed: %s", pipeline, step, run_id, record.error)
        if runner.failure is not None:
            raise runner.failure
        raise StepFailed(step, run_id, RuntimeError(record.error or "unknown error"))
    metrics = record.metrics.get(step, {})
    return {
        "pipeline": pipeline,
        "step": step,
        "run_id": run_id,
        "status": record.status,
        "rows_in": metrics.get("rows_in"),
        "rows_out": metrics.get("rows_out"),
        "warnings": len(record.metrics.get("warnings", [])),
        "report": f"_runs/{pipeline}/{run_id}.json",
    }


def failure_text(failure: dict[str, Any]) -> str:
    """`Type: message` from a Step Functions Catch result ({"Error", "Cause"}).

    A Lambda's Cause is JSON with `errorMessage`; a callback worker's is the message itself.
    """
    error = str(failure.get("Error") or "States.TaskFailed")
    cause = failure.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict):
        cause = parsed.get("errorMessage") or parsed.get("ErrorMessage") or cause
    first = str(cause).strip().splitlines()
    return f"{error}: {first[0]}" if first else error


def send_failure_alert(event: dict[str, Any]) -> dict[str, Any]:
    """The profile's alerts for a failed execution; what each channel did."""
    from strata.alerts import Alert, parse_channels, send_alert
    from strata.session import open_lake

    settings = _settings(event)
    pipeline, execution = _required(event, "pipeline"), _required(event, "execution")
    step = event.get("failed_step") or None
    if not settings.alerts:
        log.warning("%s execution %s failed at %s; no alert channels", pipeline, execution, step)
        return {"deliveries": []}
    alert = Alert(
        pipeline=pipeline,
        run_id=execution,
        step=step,
        error=failure_text(event.get("failure") or {}),
        profile=settings.profile,
        report=open_lake(settings).table_uri(f"_runs/{pipeline}/{execution}.{step}.*.json"),
        started_at=_started(event),
        attempts=None,
    )
    channels = parse_channels(settings.alerts)
    deliveries = send_alert(alert, channels, aws_endpoint_url=settings.aws_endpoint_url)
    return {"deliveries": [d.to_dict() for d in deliveries]}


def _started(event: dict[str, Any]) -> float:
    value = event.get("started")
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return time.time()


def _for_role(role: str) -> Handler:
    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        if event.get("action", "step") == "alert" and role != "notify":
            raise ConfigError(f"alerts are sent by the notify function, not {role}")
        return handle(event, context, role=role)

    handler.__name__ = handler.__qualname__ = role
    handler.__doc__ = f"Lambda entry point of the `{role}` function (see the module docstring)."
    return handler


ingest = _for_role("ingest")
process = _for_role("process")
load = _for_role("load")
notify = _for_role("notify")
