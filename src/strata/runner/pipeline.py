"""The pipeline model: steps with AWS Step Functions retry and catch semantics."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from strata.errors import TransientError

if TYPE_CHECKING:
    from strata.runner.context import RunContext


@dataclass(frozen=True)
class Retry:
    """A Step Functions `Retry` clause.

    `max_attempts` counts retries after the first try, as in ASL. The delay before retry n
    (1-based) is `interval * backoff_rate ** (n - 1)`, capped by `max_delay`; with jitter
    ("FULL") it is drawn uniformly from [0, delay]. A `retry_after` hint on the error (an HTTP
    Retry-After) wins when it is longer.
    """

    errors: tuple[type[BaseException], ...] = (TransientError,)
    interval: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay: float | None = None
    jitter: bool = False

    def matches(self, error: BaseException) -> bool:
        return isinstance(error, self.errors)

    def delay(
        self,
        retry_number: int,
        error: BaseException | None = None,
        rng: random.Random | None = None,
    ) -> float:
        delay = self.interval * self.backoff_rate ** (retry_number - 1)
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        if self.jitter:
            delay = (rng or random.Random()).uniform(0, delay)
        hint = getattr(error, "retry_after", None)
        return max(delay, float(hint)) if hint else delay


@dataclass(frozen=True)
class Catch:
    """A Step Functions `Catch` clause: on a matching error, run a failure handler."""

    handler: Callable[[RunContext, BaseException], None]
    errors: tuple[type[BaseException], ...] = (Exception,)

    def matches(self, error: BaseException) -> bool:
        return isinstance(error, self.errors)


@dataclass
class StepResult:
    """What a step reports back to the run history."""

    rows_in: int | None = None
    rows_out: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


StepFn = Callable[["RunContext"], StepResult | None]


RUNS_ON = ("driver", "engine")


@dataclass(frozen=True)
class Step:
    """One state of the pipeline.

    `runs_on` says where its work executes: "driver" (Python in the process running the
    pipeline: API calls, database extracts, warehouse loads) or "engine" (on the run's engine:
    the SQL `models` it builds, or Python batch functions through `Engine.map_batches`).
    `on_premises` marks a step that needs what only the user's own network has (a local
    folder, a database the cloud cannot reach): deployed, it runs on a `strata tasks` worker
    there instead of a Lambda function.
    """

    name: str
    fn: StepFn
    retry: tuple[Retry, ...] = (Retry(),)
    catch: tuple[Catch, ...] = ()
    description: str = ""
    runs_on: str = "driver"
    models: tuple[str, ...] = ()
    on_premises: bool = False

    def __post_init__(self) -> None:
        if self.runs_on not in RUNS_ON:
            raise ValueError(f"step {self.name!r}: runs_on must be one of {RUNS_ON}")


def model_step(name: str, *models: str, description: str = "") -> Step:
    """A step that builds SQL models, in order, on the run's engine."""

    def build(ctx: RunContext) -> StepResult:
        return ctx.build(*models)

    return Step(name, build, description=description, runs_on="engine", models=models)


@dataclass
class Pipeline:
    """A named, ordered set of steps; the first failure stops the run (fail fast)."""

    name: str
    steps: list[Step]
    description: str = ""
    catch: tuple[Catch, ...] = ()

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        from strata.errors import unknown_name

        raise unknown_name("step", name, [s.name for s in self.steps])


def database_retry(interval: float, attempts: int) -> Retry:
    """The Retry clause for steps that talk to a database: DatabaseUnavailable (refused,
    restarting, bad network) retried `attempts` times, waits doubling from `interval`."""
    from strata.errors import DatabaseUnavailable

    return Retry(
        errors=(DatabaseUnavailable,),
        interval=interval,
        max_attempts=attempts,
        backoff_rate=2.0,
    )
