"""The Runner: Step Functions retry/catch semantics, fail fast, leases and the run report."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from strata.config import Settings
from strata.errors import (
    ConfigError,
    LeaseHeld,
    LeaseLost,
    SourceError,
    SourceUnavailable,
    TransientError,
)
from strata.lake.storage import Lake
from strata.runner import (
    AttemptRecord,
    Catch,
    Pipeline,
    Retry,
    RunContext,
    Runner,
    RunRecord,
    RunStore,
    Step,
    StepResult,
    new_run_id,
)

PIPELINE = "demo"


class Sleeps(list):
    """A `sleep` that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Env:
    def __init__(self, tmp_path: Path, **settings: object) -> None:
        self.settings = Settings(
            lake=str(tmp_path / "lake"), state_dir=str(tmp_path / "state"), **settings
        )
        self.lake = Lake(self.settings.lake)
        self.store = RunStore(self.settings.state_path)
        self.sleeps = Sleeps()
        self.runner = Runner(self.store, sleep=self.sleeps, rng=random.Random(7))

    def ctx(self, run_id: str | None = None) -> RunContext:
        return RunContext(
            run_id=run_id or new_run_id(),
            pipeline=PIPELINE,
            settings=self.settings,
            lake=self.lake,
            show_progress=False,
        )

    def run(self, *steps: Step, catch: tuple[Catch, ...] = ()) -> RunRecord:
        return self.runner.run(Pipeline(PIPELINE, list(steps), catch=catch), self.ctx())

    def attempts(self, record: RunRecord) -> list[tuple[str, int, str]]:
        return [(a.step, a.attempt, a.status) for a in self.store.attempts(record.run_id)]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def failing(*errors: BaseException, then: StepResult | None = None) -> Callable:
    """A step function raising the given errors in turn, then returning `then`."""
    queue = list(errors)
    calls: list[int] = []

    def fn(ctx: RunContext) -> StepResult | None:
        calls.append(1)
        if queue:
            raise queue.pop(0)
        return then

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def unavailable(retry_after: float | None = None) -> SourceUnavailable:
    return SourceUnavailable("api", "boom", retry_after=retry_after)


# --- Retry.delay ---------------------------------------------------------------------------


def test_retry_delay_backoff() -> None:
    clause = Retry(interval=0.5, backoff_rate=3.0)
    assert [clause.delay(n) for n in (1, 2, 3)] == [0.5, 1.5, 4.5]


def test_retry_delay_max_delay_caps() -> None:
    clause = Retry(interval=1.0, backoff_rate=10.0, max_delay=5.0)
    assert [clause.delay(n) for n in (1, 2, 3)] == [1.0, 5.0, 5.0]


def test_retry_delay_jitter_is_full_and_reproducible() -> None:
    clause = Retry(interval=2.0, backoff_rate=2.0, jitter=True)
    for n in range(1, 6):
        base = 2.0 * 2.0 ** (n - 1)
        drawn = clause.delay(n, rng=random.Random(n))
        assert 0.0 <= drawn <= base
        assert drawn == random.Random(n).uniform(0, base)
    # Jitter is capped by max_delay too.
    capped = Retry(interval=100.0, max_delay=1.0, jitter=True)
    assert all(0.0 <= capped.delay(3, rng=random.Random(s)) <= 1.0 for s in range(20))


def test_retry_after_hint_wins_when_longer() -> None:
    clause = Retry(interval=1.0, backoff_rate=2.0, max_delay=2.0)
    assert clause.delay(1, unavailable(retry_after=30.0)) == 30.0  # longer hint wins over cap
    assert clause.delay(3, unavailable(retry_after=0.5)) == 2.0  # shorter hint loses
    assert clause.delay(1, unavailable(retry_after=None)) == 1.0
    jittered = Retry(interval=1.0, jitter=True)
    assert jittered.delay(1, unavailable(retry_after=9.0), random.Random(1)) == 9.0


def test_retry_matches_by_class() -> None:
    clause = Retry()
    assert clause.matches(unavailable())
    assert clause.matches(LeaseHeld("p", "o", 1.0))
    assert not clause.matches(SourceError("bad"))
    assert not clause.matches(ValueError("x"))


def test_pipeline_step_lookup() -> None:
    step = Step("extract", failing())
    pipeline = Pipeline("p", [step, Step("load", failing())])
    assert pipeline.step("extract") is step
    with pytest.raises(ConfigError, match="did you mean 'extract'"):
        pipeline.step("extrct")


# --- the success path ------------------------------------------------------------------------


def test_success_records_attempts_metrics_and_outputs(env: Env) -> None:
    seen: list[str] = []

    def extract(ctx: RunContext) -> StepResult:
        seen.append(ctx.run_id)
        return StepResult(rows_in=10, rows_out=8, metrics={"pages": 2})

    def load(ctx: RunContext) -> None:
        assert ctx.outputs["extract"].rows_out == 8  # earlier results are visible
        return None

    record = env.run(Step("extract", extract), Step("load", load))
    assert record.status == "succeeded"
    assert record.error is None
    assert record.ended_at is not None and record.duration is not None and record.duration >= 0
    assert record.metrics == {
        "extract": {"rows_in": 10, "rows_out": 8, "pages": 2},
        "load": {"rows_in": None, "rows_out": None},
    }
    assert seen == [record.run_id]
    assert env.attempts(record) == [("extract", 1, "succeeded"), ("load", 1, "succeeded")]
    [first, _] = env.store.attempts(record.run_id)
    assert (first.rows_in, first.rows_out, first.error) == (10, 8, None)
    stored = env.store.run(record.run_id)
    assert stored is not None
    assert stored.status == "succeeded"
    assert stored.metrics == record.metrics
    assert stored.params["lake"] == env.lake.uri
    assert stored.params["full_refresh"] is False
    assert env.sleeps == []
    # The lease is released: anyone can take it now.
    assert env.store.acquire_lease(PIPELINE, "someone", 60)[0]


def test_context_is_closed_after_the_run(env: Env) -> None:
    closed: list[str] = []

    def step(ctx: RunContext) -> None:
        ctx.resources.callback(closed.append, "closed")

    env.run(Step("s", step))
    assert closed == ["closed"]


def test_warnings_make_the_run_partial(env: Env) -> None:
    record = env.run(
        Step("a", lambda ctx: StepResult(warnings=["3 rows late"])),
        Step("b", lambda ctx: StepResult(warnings=["api slow"])),
    )
    assert record.status == "partial"
    assert record.metrics["warnings"] == ["3 rows late", "api slow"]
    assert env.store.run(record.run_id).status == "partial"


# --- retries ---------------------------------------------------------------------------------


def test_transient_errors_are_retried_with_backoff(env: Env) -> None:
    fn = failing(unavailable(), unavailable(), then=StepResult(rows_out=1))
    step = Step("s", fn, retry=(Retry(interval=1.0, backoff_rate=2.0, max_attempts=3),))
    record = env.run(step)
    assert record.status == "succeeded"
    assert env.sleeps == [1.0, 2.0]
    assert env.attempts(record) == [("s", 1, "failed"), ("s", 2, "failed"), ("s", 3, "succeeded")]
    errors = [a.error for a in env.store.attempts(record.run_id)]
    assert errors == ["SourceUnavailable: api unavailable: boom"] * 2 + [None]


def test_max_attempts_counts_retries_like_asl(env: Env) -> None:
    fn = failing(*(unavailable() for _ in range(10)))
    step = Step("s", fn, retry=(Retry(interval=1.0, backoff_rate=3.0, max_attempts=2),))
    record = env.run(step)
    assert record.status == "failed"
    assert len(fn.calls) == 3  # the first try plus two retries
    assert env.sleeps == [1.0, 3.0]
    assert [a[2] for a in env.attempts(record)] == ["failed"] * 3


def test_max_attempts_zero_means_no_retry(env: Env) -> None:
    fn = failing(unavailable(), then=StepResult())
    record = env.run(Step("s", fn, retry=(Retry(max_attempts=0),)))
    assert record.status == "failed"
    assert len(fn.calls) == 1
    assert env.sleeps == []


def test_runner_caps_delay_and_honours_retry_after(env: Env) -> None:
    fn = failing(unavailable(), unavailable(retry_after=30.0), unavailable(), then=StepResult())
    clause = Retry(interval=1.0, backoff_rate=10.0, max_delay=5.0, max_attempts=5)
    record = env.run(Step("s", fn, retry=(clause,)))
    assert record.status == "succeeded"
    assert env.sleeps == [1.0, 30.0, 5.0]


def test_runner_jitter_uses_its_rng(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.runner = Runner(env.store, sleep=env.sleeps, rng=random.Random(42))
    fn = failing(unavailable(), unavailable(), unavailable(), then=StepResult())
    clause = Retry(interval=1.0, backoff_rate=2.0, max_attempts=3, jitter=True)
    env.run(Step("s", fn, retry=(clause,)))
    expected = random.Random(42)
    assert env.sleeps == [expected.uniform(0, d) for d in (1.0, 2.0, 4.0)]
    assert all(0 <= s <= d for s, d in zip(env.sleeps, (1.0, 2.0, 4.0), strict=True))


@pytest.mark.parametrize("error", [SourceError("bad payload"), ValueError("bug"), KeyError("k")])
def test_non_transient_errors_are_not_retried(env: Env, error: Exception) -> None:
    fn = failing(error, then=StepResult())
    record = env.run(Step("s", fn))
    assert record.status == "failed"
    assert len(fn.calls) == 1
    assert env.sleeps == []
    [attempt] = env.store.attempts(record.run_id)
    assert attempt.status == "failed"
    assert attempt.error.startswith(type(error).__name__ + ":")


def test_first_matching_retry_clause_decides(env: Env) -> None:
    narrow = Retry(errors=(SourceUnavailable,), max_attempts=0)
    broad = Retry(errors=(TransientError,), interval=0.1, max_attempts=5)
    fn = failing(unavailable(), then=StepResult())
    record = env.run(Step("s", fn, retry=(narrow, broad)))
    # The narrow clause matched first and allows no retry; the broad one is never consulted.
    assert record.status == "failed"
    assert len(fn.calls) == 1
    # An error only the broad clause matches is retried by it.
    fn = failing(LeaseHeld("x", "y", 1.0), then=StepResult())
    record = env.run(Step("s", fn, retry=(narrow, broad)))
    assert record.status == "succeeded"
    assert env.sleeps == [0.1]


def test_each_retry_clause_counts_its_own_retries(env: Env) -> None:
    a = Retry(errors=(SourceUnavailable,), interval=1.0, max_attempts=1)
    b = Retry(errors=(LeaseHeld,), interval=2.0, max_attempts=1)
    held = LeaseHeld("x", "y", 1.0)
    fn = failing(unavailable(), held, unavailable(), then=StepResult())
    record = env.run(Step("s", fn, retry=(a, b)))
    # a retried once, b retried once, then a's single retry is spent.
    assert record.status == "failed"
    assert len(fn.calls) == 3
    assert env.sleeps == [1.0, 2.0]


# --- failures: fail fast and catch -------------------------------------------------------------


def test_failure_stops_the_run_and_is_recorded(env: Env) -> None:
    later = failing(then=StepResult())
    record = env.run(
        Step("ok", lambda ctx: StepResult(rows_out=1)),
        Step("broken", failing(SourceError("no such sensor"))),
        Step("later", later),
    )
    assert record.status == "failed"
    assert record.error == f"step 'broken' of run {record.run_id} failed: no such sensor"
    assert record.metrics["failed_step"] == "broken"
    assert "later" not in record.metrics
    assert later.calls == []
    assert env.attempts(record) == [("ok", 1, "succeeded"), ("broken", 1, "failed")]
    stored = env.store.run(record.run_id)
    assert (stored.status, stored.error) == ("failed", record.error)


def test_catch_handler_gets_the_cause(env: Env) -> None:
    handled: list[tuple[str, BaseException]] = []
    cause = SourceError("bad payload")
    step = Step(
        "s",
        failing(cause),
        catch=(Catch(lambda ctx, exc: handled.append((ctx.run_id, exc)), (SourceError,)),),
    )
    record = env.run(step)
    assert handled == [(record.run_id, cause)]
    assert record.status == "failed"
    assert "bad payload" in record.error


def test_catch_runs_after_retries_are_spent(env: Env) -> None:
    handled: list[BaseException] = []
    fn = failing(*(unavailable() for _ in range(5)))
    step = Step(
        "s",
        fn,
        retry=(Retry(interval=0.1, max_attempts=2),),
        catch=(Catch(lambda ctx, exc: handled.append(exc)),),
    )
    env.run(step)
    assert len(fn.calls) == 3
    assert len(handled) == 1 and isinstance(handled[0], SourceUnavailable)


def test_only_the_first_matching_catch_runs_step_before_pipeline(env: Env) -> None:
    calls: list[str] = []
    step = Step(
        "s",
        failing(ValueError("x")),
        catch=(
            Catch(lambda ctx, exc: calls.append("not matching"), (SourceError,)),
            Catch(lambda ctx, exc: calls.append("step")),
        ),
    )
    env.run(step, catch=(Catch(lambda ctx, exc: calls.append("pipeline")),))
    assert calls == ["step"]
    # Without a step-level match, the pipeline-level handler catches.
    calls.clear()
    env.run(
        Step("s", failing(ValueError("x"))),
        catch=(Catch(lambda ctx, exc: calls.append("pipeline")),),
    )
    assert calls == ["pipeline"]


def test_failing_catch_handler_does_not_hide_the_failure(env: Env) -> None:
    def handler(ctx: RunContext, exc: BaseException) -> None:
        raise RuntimeError("alerting is down")

    record = env.run(Step("s", failing(SourceError("root cause")), catch=(Catch(handler),)))
    assert record.status == "failed"
    assert "root cause" in record.error


# --- leases ------------------------------------------------------------------------------------


def test_second_run_while_the_lease_is_held(env: Env) -> None:
    inner: list[BaseException] = []

    def nested(ctx: RunContext) -> None:
        with pytest.raises(LeaseHeld) as caught:
            env.runner.run(Pipeline(PIPELINE, [Step("x", failing())]), env.ctx("second"))
        inner.append(caught.value)

    record = env.run(Step("nested", nested))
    assert record.status == "succeeded"
    [held] = inner
    assert held.pipeline == PIPELINE
    assert held.owner == record.run_id
    assert held.expires_in > 0
    assert env.store.run("second") is None  # the refused run left no trace


def test_lease_held_by_another_process(env: Env) -> None:
    assert env.store.acquire_lease(PIPELINE, "other-process", 60)[0]
    called = failing(then=StepResult())
    with pytest.raises(LeaseHeld, match="already running"):
        env.run(Step("s", called))
    assert called.calls == []
    assert env.store.runs(PIPELINE) == []
    # The refused run did not release someone else's lease.
    assert not env.store.acquire_lease(PIPELINE, "third", 60)[0]


def test_leases_are_per_pipeline(env: Env) -> None:
    assert env.store.acquire_lease("other-pipeline", "x", 60)[0]
    assert env.run(Step("s", failing())).status == "succeeded"


def test_expired_lease_is_taken_over_and_stale_run_abandoned(env: Env) -> None:
    # A run that crashed: its lease row and its 'running' history row were left behind.
    assert env.store.acquire_lease(PIPELINE, "crashed", 0.001)[0]
    env.store.start_run(RunRecord("crashed", PIPELINE, "running", time.time() - 60))
    env.store.start_run(RunRecord("elsewhere", "other", "running", time.time() - 60))
    time.sleep(0.01)
    record = env.run(Step("s", failing()))
    assert record.status == "succeeded"
    stale = env.store.run("crashed")
    assert stale.status == "abandoned"
    assert stale.error == "process ended without finishing"
    assert env.store.run("elsewhere").status == "running"  # another pipeline's run


class StolenLeaseStore(RunStore):
    """A store whose lease renewals fail once `stolen` is set (another run took the lease)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.stolen = threading.Event()

    def renew_lease(self, pipeline: str, owner: str, ttl: float) -> bool:
        if self.stolen.is_set():
            return False
        return super().renew_lease(pipeline, owner, ttl)


def steal_lease(ctx: RunContext, store: StolenLeaseStore) -> None:
    """Steal the lease, then wait until the heartbeat has noticed (its thread ends)."""
    store.stolen.set()
    for thread in threading.enumerate():
        if thread.name == f"lease-{ctx.pipeline}":
            thread.join(timeout=5)
            assert not thread.is_alive()


def lost_lease_env(tmp_path: Path) -> Env:
    env = Env(tmp_path, lease_ttl_seconds=0.03)
    env.store = StolenLeaseStore(env.settings.state_path)
    env.runner = Runner(env.store, sleep=env.sleeps)
    return env


def test_lost_lease_stops_before_the_next_step(tmp_path: Path) -> None:
    env = lost_lease_env(tmp_path)
    later = failing(then=StepResult())
    with pytest.raises(LeaseLost, match="before step 'later'"):
        env.run(Step("first", lambda ctx: steal_lease(ctx, env.store)), Step("later", later))
    assert later.calls == []


def test_lost_lease_is_recorded_as_failed(tmp_path: Path) -> None:
    env = lost_lease_env(tmp_path)
    ctx = env.ctx("lost")
    pipeline = Pipeline(
        PIPELINE, [Step("first", lambda c: steal_lease(c, env.store)), Step("b", failing())]
    )
    with pytest.raises(LeaseLost):
        env.runner.run(pipeline, ctx)
    stored = env.store.run("lost")
    assert stored.status == "failed"
    assert "lease" in (stored.error or "")


# --- history and report --------------------------------------------------------------------------


def test_run_report_is_written_to_the_lake(env: Env) -> None:
    fn = failing(unavailable(), then=StepResult(rows_in=4, rows_out=3))
    record = env.run(Step("s", fn, retry=(Retry(interval=0.1),)))
    report = json.loads(env.lake.read_bytes(f"_runs/{PIPELINE}/{record.run_id}.json"))
    assert report["run_id"] == record.run_id
    assert report["pipeline"] == PIPELINE
    assert report["status"] == "succeeded"
    assert report["profile"] == "dev" and report["engine"] == "duckdb"
    assert report["duration_s"] >= 0
    assert [(s["step"], s["attempt"], s["status"]) for s in report["steps"]] == [
        ("s", 1, "failed"),
        ("s", 2, "succeeded"),
    ]
    assert report["steps"][1]["rows_out"] == 3
    assert report["metrics"] == {"s": {"rows_in": 4, "rows_out": 3}}
    assert report["models"] == []


def test_report_of_a_failed_run(env: Env) -> None:
    record = env.run(Step("s", failing(SourceError("nope"))))
    report = json.loads(env.lake.read_bytes(f"_runs/{PIPELINE}/{record.run_id}.json"))
    assert report["status"] == "failed"
    assert report["error"].endswith("failed: nope")


def test_history_is_pruned_by_log_retention(tmp_path: Path) -> None:
    env = Env(tmp_path, log_retention_days=7)
    now = time.time()
    for run_id, age_days in (("old", 10), ("recent", 3)):
        env.store.start_run(RunRecord(run_id, PIPELINE, "succeeded", now - age_days * 86400))
        env.store.record_attempt(AttemptRecord(run_id, "s", 1, "succeeded", now - age_days * 86400))
    record = env.run(Step("s", failing()))
    assert env.store.run("old") is None
    assert env.store.attempts("old") == []
    assert env.store.run("recent") is not None
    assert len(env.store.attempts("recent")) == 1
    assert [r.run_id for r in env.store.runs(PIPELINE)] == [record.run_id, "recent"]


def test_run_ids_are_unique_and_sortable() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == len("20250101T000000Z-abcdef") for i in ids)
