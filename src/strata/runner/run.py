"""Run a pipeline: lease, steps with retries, catch handlers, history and the run report."""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from strata.errors import LeaseLost, StepFailed, StorageError
from strata.runner.context import RunContext
from strata.runner.lease import Lease
from strata.runner.pipeline import Pipeline, Step, StepResult
from strata.runner.store import AttemptRecord, RunRecord, RunStore

log = logging.getLogger("strata.runner")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)


class Runner:
    """Executes pipelines with Step Functions semantics and records every attempt."""

    def __init__(
        self,
        store: RunStore,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        *,
        orchestrated: bool = False,
    ) -> None:
        """`orchestrated`: an orchestrator (Step Functions) runs the steps one at a time and owns
        retries and alerts: each step is tried once, no alert is sent, and the error of a failed
        step is kept in `failure` for the caller to raise."""
        self.store = store
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.orchestrated = orchestrated
        self.failure: BaseException | None = None

    def run(self, pipeline: Pipeline, ctx: RunContext) -> RunRecord:
        """Run every step in order; the returned record says how it went (never raises for a
        failed step: the failure is in `record.error`). Raises LeaseHeld if another run is on."""
        record = RunRecord(
            ctx.run_id,
            pipeline.name,
            "running",
            time.time(),
            profile=ctx.settings.profile,
            engine=ctx.engine_name,
            params=_params(ctx),
        )
        ttl = ctx.settings.lease_ttl_seconds
        with Lease(self.store, pipeline.name, ctx.run_id, ttl) as lease:
            self.store.mark_abandoned(pipeline.name)
            self.store.start_run(record)
            try:
                self._steps(pipeline, ctx, record, lease)
            except BaseException as exc:  # recorded, then re-raised: never left 'running'
                record.status, record.error = "failed", _one_line(exc)
                raise
            finally:
                ctx.close()
                record.ended_at = time.time()
                if record.status == "failed" and not self.orchestrated:
                    self._alert(ctx, record)
                self.store.finish_run(record)
                self._report(ctx, record)
                self.store.prune(ctx.settings.log_retention_days)
        return record

    def _steps(self, pipeline: Pipeline, ctx: RunContext, record: RunRecord, lease: Lease) -> None:
        warnings: list[str] = []
        for step in pipeline.steps:
            if lease.lost:
                raise LeaseLost(f"lease of {pipeline.name} lost before step {step.name!r}")
            try:
                result = self._step(step, ctx)
            except StepFailed as failure:
                self.failure = failure.cause
                record.status, record.error = "failed", str(failure)
                record.metrics.setdefault("failed_step", step.name)
                self._catch(step, pipeline, ctx, failure)
                return
            record.metrics[step.name] = _step_metrics(result)
            warnings.extend(result.warnings)
        record.status = "partial" if warnings else "succeeded"
        if warnings:
            record.metrics["warnings"] = warnings

    def _step(self, step: Step, ctx: RunContext) -> StepResult:
        retries_done: dict[int, int] = {}
        attempt = 0
        while True:
            attempt += 1
            started = time.time()
            try:
                result = step.fn(ctx) or StepResult()
            except Exception as exc:
                self._record(ctx, step, attempt, "failed", started, error=_one_line(exc))
                delay = self._retry_delay(step, exc, retries_done)
                if delay is None:
                    raise StepFailed(step.name, ctx.run_id, exc) from exc
                log.warning(
                    "step %s attempt %d failed (%s); retrying in %.2fs",
                    step.name,
                    attempt,
                    _one_line(exc),
                    delay,
                )
                self.sleep(delay)
                continue
            self._record(ctx, step, attempt, "succeeded", started, result)
            ctx.outputs[step.name] = result
            return result

    def _retry_delay(self, step: Step, exc: BaseException, done: dict[int, int]) -> float | None:
        """The first Retry clause matching the error decides, as in Step Functions."""
        if self.orchestrated:
            return None
        for index, clause in enumerate(step.retry):
            if clause.matches(exc):
                done[index] = done.get(index, 0) + 1
                if done[index] > clause.max_attempts:
                    return None
                return clause.delay(done[index], exc, self.rng)
        return None

    def _catch(self, step: Step, pipeline: Pipeline, ctx: RunContext, failure: StepFailed) -> None:
        for clause in (*step.catch, *pipeline.catch):
            if clause.matches(failure.cause):
                try:
                    clause.handler(ctx, failure.cause)
                except Exception:
                    log.exception("failure handler of step %s failed", step.name)
                return

    def _record(
        self,
        ctx: RunContext,
        step: Step,
        attempt: int,
        status: str,
        started: float,
        result: StepResult | None = None,
        error: str | None = None,
    ) -> None:
        self.store.record_attempt(
            AttemptRecord(
                ctx.run_id,
                step.name,
                attempt,
                status,
                started,
                time.time(),
                result.rows_in if result else None,
                result.rows_out if result else None,
                error,
            )
        )

    def _alert(self, ctx: RunContext, record: RunRecord) -> None:
        """Tell the profile's alert channels; what each did goes into the run's metrics."""
        if not ctx.settings.alerts:
            return
        from strata.alerts import Alert, parse_channels, send_alert

        try:
            step = record.metrics.get("failed_step")
            tries = [a for a in self.store.attempts(record.run_id) if step and a.step == step]
            alert = Alert(
                pipeline=record.pipeline,
                run_id=record.run_id,
                step=step,
                # The last attempt's `Type: message`; the run's error for failures between steps.
                error=(tries[-1].error if tries else None) or record.error or "unknown error",
                profile=record.profile or ctx.settings.profile,
                report=ctx.lake.table_uri(f"_runs/{record.pipeline}/{record.run_id}.json"),
                started_at=record.started_at,
                failed_at=record.ended_at or time.time(),
                attempts=len(tries) or None,
            )
            channels = parse_channels(ctx.settings.alerts)
            deliveries = send_alert(alert, channels, aws_endpoint_url=ctx.settings.aws_endpoint_url)
        except Exception:  # never let alerting replace the run's own failure
            log.exception("alerts for run %s could not be sent", record.run_id)
            return
        record.metrics["alerts"] = [d.to_dict() for d in deliveries]

    def _report(self, ctx: RunContext, record: RunRecord) -> None:
        """A JSON run report in the lake (`_runs/<pipeline>/<run_id>.json`) for people and tools."""
        report = asdict(record) | {
            "duration_s": record.duration,
            "steps": [asdict(a) for a in self.store.attempts(record.run_id)],
            "models": [r.to_dict() for r in ctx.model_results],
        }
        try:
            body = json.dumps(report, indent=1, default=str).encode()
            ctx.lake.write_bytes(f"_runs/{record.pipeline}/{record.run_id}.json", body)
        except StorageError:
            log.exception("could not write the run report of %s", record.run_id)


def _params(ctx: RunContext) -> dict[str, Any]:
    return {
        "lake": ctx.lake.uri,
        "full_refresh": ctx.full_refresh,
        "start_date": ctx.start_date,
        "end_date": ctx.end_date,
    }


def _step_metrics(result: StepResult) -> dict[str, Any]:
    return {"rows_in": result.rows_in, "rows_out": result.rows_out, **result.metrics}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
