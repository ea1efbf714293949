"""A pipeline as an AWS Step Functions state machine (Amazon States Language).

`state_machine` turns a pipeline's steps into Task states that carry the same Retry clauses
the local runner applies, with the same first-match rule, and the same failure path: the first
step that fails for good stops the execution, the configured alert channels are told (through
the `notify` task) and the execution fails. Local Retry clauses name Python exception classes;
in ASL an error is matched by name, so a clause lists the class and all of its subclasses.

Where each Task runs (`TaskResources`):

- `aws` (default): driver steps invoke the Lambda function of their role,
  `strata-<env>-<role>` (`strata.aws.lambdas`); engine steps start their Glue job,
  `strata-<env>-<pipeline>-<step>` (`strata.aws.glue`), and wait for it (`.sync`), or run on
  the `process` Lambda with `engine_steps="lambda"`.
  Steps marked `on_premises` (weather_sales' upload of the local sales folder) are sent to
  the on-premises task queue with a task token, for a `strata tasks` worker there; the queue
  URL is the placeholder `${onprem_tasks_queue_url}`, which Terraform's `templatefile` fills.
- `callback`: every step is sent to an SQS queue with a task token
  (`sqs:sendMessage.waitForTaskToken`); a `strata.aws.tasks.TaskWorker` anywhere that can
  reach the queue runs it and answers Step Functions. This is how on-premise workers take part
  in a cloud state machine, and how the tests run the exported machine on moto.

Step ids, run ids: each Task runs one step as its own run, `<execution>.<step>.<retry>`, so
the run history and reports stay per step, as with Glue job runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import strata.queues.base  # defines QueueUnavailable, a TransientError
import strata.runner.lake_state  # noqa: F401 - defines StateConflict, a TransientError
from strata.errors import ConfigError
from strata.runner.pipeline import Pipeline, Retry, Step

ROLES = ("ingest", "process", "load", "notify")
"""The Lambda functions, by what a step does (their IAM rights and sizing differ)."""

_ROLE_OF_STEP = {
    "load": "load",
    "sync": "load",
    "notify": "notify",
    "finish": "process",
    "housekeeping": "process",
}
"""Driver steps that are not `ingest` (fetching into raw/bronze is the default)."""

LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
SUCCEEDED, FAILED, NOTIFY_FAILURE = "Succeeded", "Failed", "NotifyFailure"
ONPREM_QUEUE = "${onprem_tasks_queue_url}"
"""Where on-premises steps wait in `aws` mode: filled in by Terraform (templatefile)."""
CALLBACK_TIMEOUT = 3600
"""Seconds a task sent to workers may take before Step Functions gives up on it (no worker
running, a worker that died): States.Timeout, which the Catch turns into the failure path."""


def step_role(step: Step) -> str:
    """The Lambda role that runs `step`: engine steps `process`, loads `load`, …"""
    if step.runs_on == "engine":
        return "process"
    return _ROLE_OF_STEP.get(step.name, "ingest")


def function_name(env: str, role: str) -> str:
    return f"strata-{env}-{role}"


def glue_job_name(env: str, pipeline: str, step: str) -> str:
    return f"strata-{env}-{pipeline}-{step}"


def state_machine_name(env: str, pipeline: str) -> str:
    return f"strata-{env}-{pipeline}"


@dataclass(frozen=True)
class TaskResources:
    """Where the Task states run: AWS Lambda and Glue, or workers behind an SQS queue."""

    mode: Literal["aws", "callback"] = "aws"
    engine_steps: Literal["glue", "lambda"] = "glue"
    callback_queue_url: str = ""

    def __post_init__(self) -> None:
        if (self.mode == "callback") != bool(self.callback_queue_url):
            raise ConfigError("the callback mode needs a queue URL, and only it takes one")

    def task(self, event: dict[str, Any], step: Step | None, env: str) -> dict[str, Any]:
        """Resource, Parameters and ResultSelector of a Task sending `event` (JSONPath keys
        ending in `.$` are resolved by Step Functions)."""
        if self.mode == "callback":
            return _callback(event, self.callback_queue_url)
        if step is not None and step.on_premises:
            return _callback(event, ONPREM_QUEUE)
        if step is not None and step.runs_on == "engine" and self.engine_steps == "glue":
            return {
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {
                    "JobName": glue_job_name(env, event["pipeline"], step.name),
                    "Arguments": {"--env": env},
                },
                "ResultSelector": {"job_run_id.$": "$.Id", "state.$": "$.JobRunState"},
            }
        role = step_role(step) if step is not None else "notify"
        return {
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function_name(env, role), "Payload": event},
            "ResultSelector": {"result.$": "$.Payload"},
        }

    def service_retry(self, step: Step | None) -> list[dict[str, Any]]:
        """Retries for the transport itself (Lambda throttling), before the step's own."""
        on_glue = step is not None and step.runs_on == "engine" and self.engine_steps == "glue"
        if self.mode != "aws" or on_glue or (step is not None and step.on_premises):
            return []
        clause = {"IntervalSeconds": 2, "MaxAttempts": 5, "BackoffRate": 2.0}
        return [{"ErrorEquals": list(LAMBDA_SERVICE_ERRORS), **clause}]


def _callback(event: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """A task sent to `queue_url` with its token; a `strata tasks` worker answers."""
    body = {**event, "task_token.$": "$$.Task.Token"}
    return {
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue_url, "MessageBody": body},
        "TimeoutSeconds": CALLBACK_TIMEOUT,
    }


def error_names(errors: Iterable[type[BaseException]]) -> list[str]:
    """ASL error names matching what `errors` match in Python: each class and its subclasses.

    A task reports the class name of the exception it raised (Lambda's errorType, the
    callback worker's error); a catch-all `Exception` becomes `States.TaskFailed`. Every
    module that subclasses a retried error is imported above, so the list does not depend on
    what happens to be loaded.
    """
    names: list[str] = []
    for cls in errors:
        if cls in (Exception, BaseException):
            return ["States.TaskFailed"]
        # Subclasses by name: their creation order depends on what was imported first.
        for found in (cls, *sorted(_subclasses(cls), key=lambda c: c.__name__)):
            if found.__name__ not in names:
                names.append(found.__name__)
    return names


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    sub: type
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def retry_clause(retry: Retry, *, glue: bool = False) -> dict[str, Any]:
    """An ASL Retry clause for a local one (intervals are whole seconds in ASL: rounded up).

    A Glue job's failure reaches Step Functions as `States.TaskFailed` without the Python
    error, so a step on Glue retries any failure its clause allows.
    """
    clause: dict[str, Any] = {
        "ErrorEquals": ["States.TaskFailed"] if glue else error_names(retry.errors),
        "IntervalSeconds": max(1, math.ceil(retry.interval)),
        "MaxAttempts": retry.max_attempts,
        "BackoffRate": max(1.0, float(retry.backoff_rate)),
    }
    if retry.max_delay is not None:
        clause["MaxDelaySeconds"] = max(1, math.ceil(retry.max_delay))
    if retry.jitter:
        clause["JitterStrategy"] = "FULL"
    return clause


def _event(pipeline: str, step: str | None, env: str, action: str) -> dict[str, Any]:
    return {
        "action": action,
        "pipeline": pipeline,
        "step": step,
        "env": env,
        "execution.$": "$$.Execution.Name",
        "retry.$": "$$.State.RetryCount",
        "input.$": "$$.Execution.Input",
    }


def _step_state(
    pipeline: Pipeline, index: int, env: str, resources: TaskResources
) -> dict[str, Any]:
    step = pipeline.steps[index]
    on_glue = step.runs_on == "engine" and resources.engine_steps == "glue"
    on_glue = on_glue and resources.mode == "aws"
    following = pipeline.steps[index + 1].name if index + 1 < len(pipeline.steps) else SUCCEEDED
    state: dict[str, Any] = {"Type": "Task"}
    if step.description:
        state["Comment"] = step.description
    state |= resources.task(_event(pipeline.name, step.name, env, "step"), step, env)
    state["ResultPath"] = f"$.steps.{step.name}"
    retries = resources.service_retry(step)
    retries += [retry_clause(r, glue=on_glue) for r in step.retry]
    if retries:
        state["Retry"] = retries
    state["Catch"] = [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": _failed(step.name)}
    ]
    state["Next"] = following
    return state


def _failed(step: str) -> str:
    return f"{step} failed"


def state_machine(
    pipeline: Pipeline, env: str, resources: TaskResources | None = None
) -> dict[str, Any]:
    """The ASL definition of `pipeline` in environment `env`."""
    if not pipeline.steps:
        raise ConfigError(f"pipeline {pipeline.name} has no steps to export")
    resources = resources or TaskResources()
    states: dict[str, Any] = {}
    for index, step in enumerate(pipeline.steps):
        states[step.name] = _step_state(pipeline, index, env, resources)
        # Where it failed, for the alert: the Catch keeps the error in $.failure.
        states[_failed(step.name)] = {
            "Type": "Pass",
            "Result": step.name,
            "ResultPath": "$.failed_step",
            "Next": NOTIFY_FAILURE,
        }
    alert = _event(pipeline.name, None, env, "alert")
    alert |= {
        "failed_step.$": "$.failed_step",
        "failure.$": "$.failure",
        "started.$": "$$.Execution.StartTime",
    }
    notify: dict[str, Any] = {"Type": "Task", "Comment": "tell the alert channels"}
    notify |= resources.task(alert, None, env)
    notify["ResultPath"] = "$.alert"
    if retries := resources.service_retry(None):
        notify["Retry"] = retries
    # An alert that cannot be sent must not hide the run's own failure.
    notify["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.alert", "Next": FAILED}]
    notify["Next"] = FAILED
    states[NOTIFY_FAILURE] = notify
    states[FAILED] = {
        "Type": "Fail",
        "Comment": "a step failed after its retries",
        "ErrorPath": "$.failure.Error",
        "CausePath": "$.failure.Cause",
    }
    states[SUCCEEDED] = {"Type": "Succeed"}
    comment = pipeline.description or f"Strata pipeline {pipeline.name}"
    return {
        "Comment": f"{comment} ({env}); generated by `strata export asl`",
        "StartAt": pipeline.steps[0].name,
        "States": states,
    }


def to_json(definition: dict[str, Any]) -> str:
    """Stable, reviewable JSON (sorted keys are not used: state order reads top to bottom)."""
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"
