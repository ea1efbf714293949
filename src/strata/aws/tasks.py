"""Task worker: runs the Task states of a state machine exported in callback mode.

A callback-mode state machine (`strata export asl --callback-queue URL`) sends each task to an
SQS queue with a task token (`sqs:sendMessage.waitForTaskToken`) and waits. The worker receives
the message, runs it exactly as the Lambda functions would (`strata.aws.lambdas.handle`), and
answers Step Functions: SendTaskSuccess with the result, or SendTaskFailure with the step's
own error name (the exported Retry and Catch clauses match on it). The message is deleted
after the answer; a worker that dies before answering leaves the message to come back after
its visibility timeout, and Step Functions' task timeout covers a worker that never comes.

    strata tasks --queue URL [--once]
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from strata.aws.lambdas import handle
from strata.queues import Message, Queue

log = logging.getLogger("strata.aws.tasks")

CAUSE_LIMIT = 32_000
"""SendTaskFailure accepts a cause of at most 32,768 characters."""


@dataclass
class TaskOutcome:
    message_id: str
    pipeline: str
    step: str | None
    status: str  # succeeded | failed | malformed | expired (nobody waits for the answer)
    error: str | None = None


@dataclass
class TaskWorker:
    """Receives task messages from `queue` and answers Step Functions through `sfn`."""

    queue: Queue
    sfn: Any  # a boto3 Step Functions client
    wait_seconds: float = 20
    visibility_timeout: float = 900
    outcomes: list[TaskOutcome] = field(default_factory=list)

    def run(self, *, once: bool = False, stop: Any = None) -> list[TaskOutcome]:
        """Handle tasks until `stop()` is true, or (with `once`) until the queue is empty."""
        while not (stop and stop()):
            messages = self.queue.receive(
                wait_seconds=self.wait_seconds, visibility_timeout=self.visibility_timeout
            )
            for message in messages:
                self.outcomes.append(self.handle(message))
            if once and not messages:
                break
        return self.outcomes

    def handle(self, message: Message) -> TaskOutcome:
        try:
            event = json.loads(message.body)
            token = event.pop("task_token")
        except (ValueError, KeyError, AttributeError, TypeError):
            # Nobody waits for an answer without a token: drop it, loudly.
            log.error(
                "task message %s has no task token; deleted: %.200s", message.id, message.body
            )
            self.queue.delete(message)
            return TaskOutcome(message.id, "?", None, "malformed", "no task token")
        pipeline, step = str(event.get("pipeline")), event.get("step")
        try:
            result = handle(event)
        except Exception as exc:  # the step's own error goes back to Step Functions by name
            error = type(exc).__name__
            cause = str(exc).strip() or error
            answered = self._answer(
                message, token, "send_task_failure", error=error, cause=cause[:CAUSE_LIMIT]
            )
            log.warning("task %s.%s failed: %s: %s", pipeline, step, error, cause.splitlines()[0])
            status = "failed" if answered is None else "expired"
            return TaskOutcome(message.id, pipeline, step, status, answered or f"{error}: {cause}")
        answered = self._answer(
            message, token, "send_task_success", output=json.dumps(result, default=str)
        )
        log.info(
            "task %s.%s %s", pipeline, step or event.get("action"), result.get("status", "done")
        )
        status = "succeeded" if answered is None else "expired"
        return TaskOutcome(message.id, pipeline, step, status, answered)

    def _answer(self, message: Message, token: str, call: str, **kwargs: Any) -> str | None:
        """Answer Step Functions, then delete the message; the reason when nobody waits any
        more (the task timed out, the execution was stopped): the message is deleted too."""
        try:
            getattr(self.sfn, call)(taskToken=token, **kwargs)
        except Exception as exc:  # botocore ClientError: TaskTimedOut, TaskDoesNotExist, ...
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            if code not in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
                raise  # Step Functions unreachable: the message comes back, the task reruns
            log.error("task %s: Step Functions no longer waits for it (%s)", message.id, code)
            self.queue.delete(message)
            return f"no longer awaited: {code}"
        self.queue.delete(message)
        return None
