"""`strata schedule`: run pipelines in the foreground on their profile's schedules.

    [profiles.prod]
    schedule = "cron(0 2 * * ? *)"        # the default for every pipeline (EventBridge syntax)

    [profiles.prod.schedules]
    totesys = "rate(5 minutes)"           # the seed's EventBridge Scheduler rate
    weather_sales = "0 6 * * *"           # plain five-field cron works too
    shopease = "off"                      # not scheduled

Expressions: EventBridge `rate(N minute|minutes|hour|hours|day|days)` and `cron(min hour dom
month dow year)` (`?` allowed; day-of-week 1-7 = SUN-SAT as in EventBridge; year `*`), a
five-field cron, or `off`/empty. Cron times are UTC. A rate fires at once when the scheduler
starts, then every interval; a cron fires at its next time.

Runs happen one at a time, in the foreground. A fire time that passes while another run is
going is not queued: the pipeline runs once, at the next opportunity, and its next fire is
computed from then (no backlog after a long run). A pipeline running elsewhere (its lease
held by another process) is skipped and logged. A failed run is logged (its alerts go out from
the runner) and the schedule goes on. SIGTERM/SIGINT let the current run finish, then stop.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from strata.config import Settings
from strata.errors import ConfigError, LeaseHeld, StrataError
from strata.runner.signals import stop_on_signals

OFF = ("", "off", "none", "disabled")
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(second|minute|hour|day)s?\s*\)$")
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_DOW = {str(n): str(n - 1) for n in range(1, 8)}  # EventBridge 1-7 (SUN-SAT) → cron 0-6

Next = Callable[[datetime], datetime]


def _eventbridge_cron(body: str, expression: str) -> str:
    fields = body.split()
    if len(fields) != 6:
        raise ConfigError(
            f"schedule {expression!r}: cron() takes 6 fields (min hour dom month dow year)"
        )
    minute, hour, dom, month, dow, year = fields
    if year not in ("*", "?"):
        raise ConfigError(f"schedule {expression!r}: only year '*' is supported")
    dow = ",".join(_DOW.get(part, part) for part in dow.replace("?", "*").split(","))
    return " ".join([minute, hour, dom.replace("?", "*"), month, dow])


def parse_schedule(expression: str) -> Next | None:
    """The function giving the next fire time after a moment, or None for `off`."""
    text = expression.strip()
    if text.lower() in OFF:
        return None
    rate = _RATE.match(text)
    if rate:
        step = timedelta(seconds=int(rate.group(1)) * _UNITS[rate.group(2)])
        if step <= timedelta(0):
            raise ConfigError(f"schedule {expression!r}: the rate must be positive")
        return lambda moment: moment + step
    if text.startswith("cron(") and text.endswith(")"):
        text = _eventbridge_cron(text[5:-1], expression)
    from croniter import croniter

    if not croniter.is_valid(text):
        raise ConfigError(f"schedule {expression!r} is not a cron expression, rate(...) or 'off'")
    return lambda moment: croniter(text, moment).get_next(datetime)


@dataclass
class Scheduled:
    pipeline: str
    expression: str
    next_after: Next
    is_rate: bool
    due: datetime


@dataclass
class Outcome:
    pipeline: str
    status: str  # succeeded | partial | failed | skipped
    run_id: str | None
    started: datetime
    seconds: float
    detail: str = ""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """Runs the scheduled pipelines of `settings` until stopped."""

    def __init__(
        self,
        settings: Settings,
        pipelines: list[str] | None = None,
        *,
        runner: Callable[..., Any] | None = None,
        now: Callable[[], datetime] = _utcnow,
        console: Console | None = None,
    ) -> None:
        self.settings = settings
        self.runner = runner or _run_pipeline
        self.now = now
        self.console = console or Console(stderr=True)
        self.plan = self._plan(pipelines)
        self.outcomes: list[Outcome] = []

    def _plan(self, only: list[str] | None) -> list[Scheduled]:
        from strata.pipelines import pipeline_names

        known = pipeline_names()
        unknown = sorted(set(only or []) | set(self.settings.schedules) - set(known))
        if unknown:
            raise ConfigError(f"schedules name unknown pipelines {unknown}; known: {known}")
        start = self.now()
        plan = []
        for name in only or known:
            expression = self.settings.schedules.get(name, self.settings.schedule or "")
            try:
                next_after = parse_schedule(expression)
            except ConfigError as exc:
                raise ConfigError(f"pipeline {name}: {exc}") from exc
            if next_after is None:
                continue
            is_rate = expression.strip().startswith("rate(")
            due = start if is_rate else next_after(start)
            plan.append(Scheduled(name, expression, next_after, is_rate, due))
        return plan

    def run_forever(self, stop: threading.Event, max_runs: int | None = None) -> list[Outcome]:
        """Run due pipelines until `stop` is set (or `max_runs` runs were started)."""
        if not self.plan:
            self.console.print("nothing is scheduled in this profile")
            return self.outcomes
        with stop_on_signals(stop):
            while not stop.is_set() and (max_runs is None or len(self.outcomes) < max_runs):
                entry = min(self.plan, key=lambda s: s.due)
                wait = (entry.due - self.now()).total_seconds()
                if wait > 0 and stop.wait(wait):
                    break
                self.outcomes.append(self._run(entry))
                entry.due = entry.next_after(max(self.now(), entry.due))
        return self.outcomes

    def _run(self, entry: Scheduled) -> Outcome:
        started = self.now()
        self.console.print(
            f"{started:%Y-%m-%d %H:%M:%S}Z start {entry.pipeline} ({entry.expression})"
        )
        run_id, status, detail = None, "failed", ""
        try:
            record = self.runner(entry.pipeline, settings=self.settings, show_progress=False)
            run_id, status, detail = record.run_id, record.status, record.error or ""
        except LeaseHeld as exc:
            status, detail = "skipped", f"running elsewhere (lease held by run {exc.owner})"
        except StrataError as exc:
            detail = str(exc)
        seconds = (self.now() - started).total_seconds()
        colour = {"succeeded": "green", "partial": "yellow", "skipped": "dim"}.get(status, "red")
        self.console.print(
            f"{self.now():%Y-%m-%d %H:%M:%S}Z [{colour}]{status}[/] {entry.pipeline}"
            + (f" run {run_id}" if run_id else "")
            + f" in {seconds:.1f}s"
            + (f": {detail}" if detail else "")
        )
        return Outcome(entry.pipeline, status, run_id, started, seconds, detail)


def _run_pipeline(name: str, **kwargs: Any) -> Any:
    from strata.session import run_pipeline

    return run_pipeline(name, **kwargs)
