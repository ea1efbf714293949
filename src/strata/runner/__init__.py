"""Pipelines, steps, and the runner that executes them."""

from strata.runner.context import RunContext
from strata.runner.pipeline import Catch, Pipeline, Retry, Step, StepResult, model_step
from strata.runner.run import Runner, new_run_id
from strata.runner.store import AttemptRecord, RunRecord, RunStore

__all__ = [
    "AttemptRecord",
    "Catch",
    "Pipeline",
    "Retry",
    "RunContext",
    "RunRecord",
    "RunStore",
    "Runner",
    "Step",
    "StepResult",
    "model_step",
    "new_run_id",
]
