"""The Lambda handlers of `strata.aws.lambdas`, invoked as Lambda would, with a moto S3 lake,
a moto SQS FIFO export queue and an API key from moto Secrets Manager: weather_sales step by
step through the functions the exported state machine names, a failing step raising its own
error after one try, the wrong function refusing a step, and the failure alert."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from strata.aws import lambdas
from strata.aws.asl import step_role
from strata.errors import ConfigError, SourceUnavailable
from strata.pipelines import get_pipeline
from strata.runner import RunStore
from tests.conftest import free_port
from tests.pipelines.test_weather_sales import DAYS, ROWS, make_setup


def event(pipeline: str, step: str, execution: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": "step",
        "pipeline": pipeline,
        "step": step,
        "env": "dev",
        "execution": execution,
        "retry": 0,
        "input": {},
        **extra,
    }


@pytest.fixture
def weather_sales(
    tmp_path: Path, pg_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Any:
    import boto3

    setup = make_setup(tmp_path, pg_url, "aws", request)
    secret = f"strata/dev/openweather-{uuid.uuid4().hex[:6]}"
    boto3.client("secretsmanager").create_secret(
        Name=secret, SecretString=json.dumps({"api_key": "k-123"})
    )
    setup.configure(api_key=f"aws-sm:{secret}#api_key")
    monkeypatch.setenv("STRATA_CONFIG", str(setup.config))
    monkeypatch.setenv("STRATA_ENV", "dev")
    return setup


def test_the_handlers_run_weather_sales_on_moto_s3_sqs_and_secrets(weather_sales: Any) -> None:
    spec = get_pipeline("weather_sales")
    steps = spec.build(spec.options({})).steps
    for step in steps:
        handler = getattr(lambdas, step_role(step))  # the function the state machine invokes
        result = handler(event("weather_sales", step.name, "exec-1"), None)
        assert result["status"] in ("succeeded", "partial"), result
        assert result["run_id"] == f"exec-1.{step.name}.0"
    assert weather_sales.settings.lake.startswith("s3://")
    gold = weather_sales.gold()
    assert gold.num_rows == len(DAYS) * ROWS
    with weather_sales.queue() as queue:  # one announcement per gold day, on moto SQS
        messages = queue.receive(max_messages=10, wait_seconds=0)
        assert sorted(json.loads(m.body)["date_key"] for m in messages) == [str(d) for d in DAYS]
    store = RunStore(weather_sales.settings.state_path)
    for step in steps:
        attempts = store.attempts(f"exec-1.{step.name}.0")
        assert [(a.step, a.status) for a in attempts] == [(step.name, "succeeded")]


def test_a_secret_that_is_missing_is_a_clear_error(weather_sales: Any) -> None:
    weather_sales.configure(api_key="aws-sm:strata/dev/no-such-secret#api_key")
    with pytest.raises(ConfigError, match=r"aws-sm:strata/dev/no-such-secret#api_key"):
        lambdas.ingest(event("weather_sales", "weather", "exec-2"), None)


def test_a_failing_step_raises_its_own_error_after_one_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "strata.toml"
    config.write_text(
        f'[profiles.dev]\nlake = "{tmp_path / "lake"}"\nstate_dir = "{tmp_path / "state"}"\n'
        "[profiles.dev.pipelines.smartsensor]\n"
        f'api_url = "http://127.0.0.1:{free_port()}"\ncheck_max_attempts = 3\n'
    )
    monkeypatch.setenv("STRATA_CONFIG", str(config))
    # The step's own exception (Lambda's errorType), not a wrapper: the Retry clauses match it.
    with pytest.raises(SourceUnavailable):
        lambdas.ingest(event("smartsensor", "check", "exec-3", retry=2), None)
    attempts = RunStore(tmp_path / "state").attempts("exec-3.check.2")
    assert [(a.step, a.status) for a in attempts] == [("check", "failed")]  # no local retries


def test_each_function_runs_only_its_own_steps(weather_sales: Any) -> None:
    with pytest.raises(ConfigError, match="belongs to the load function, not ingest"):
        lambdas.ingest(event("shopease", "sync", "exec-4"), None)
    with pytest.raises(ConfigError, match="alerts are sent by the notify function"):
        lambdas.process({"action": "alert", "pipeline": "shopease", "execution": "e"}, None)
    with pytest.raises(ConfigError, match="no 'execution'"):
        lambdas.ingest({"action": "step", "pipeline": "weather_sales", "step": "upload"}, None)


def test_the_notify_function_sends_the_failure_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    config = tmp_path / "strata.toml"
    config.write_text(
        f'[profiles.dev]\nlake = "{tmp_path / "lake"}"\nstate_dir = "{tmp_path / "state"}"\n'
        'alerts = [{type = "log"}]\n'
    )
    monkeypatch.setenv("STRATA_CONFIG", str(config))
    cause = json.dumps({"errorMessage": "totesys: connection refused", "errorType": "X"})
    result = lambdas.notify(
        {
            "action": "alert",
            "pipeline": "totesys",
            "env": "dev",
            "execution": "exec-5",
            "failed_step": "ingest",
            "failure": {"Error": "DatabaseUnavailable", "Cause": cause},
            "started": "2026-12-04T10:00:00.000Z",
        },
        None,
    )
    assert [(d["channel"], d["ok"]) for d in result["deliveries"]] == [("log", True)]
    (text,) = [r.getMessage() for r in caplog.records if r.name == "strata.alerts"]
    assert "Run: exec-5\nStep: ingest\nError: DatabaseUnavailable: totesys: connection refused" in (
        text
    )


def test_with_the_state_in_the_lake_each_invocation_can_start_on_an_empty_disk(
    weather_sales: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on Lambda: every invocation gets a fresh state folder; the file ledger, checkpoints
    and run history travel through `<lake>/_strata/state/weather_sales.db`. A second execution
    finds the files processed, the gold days announced, and sends nothing again."""
    from strata.files.ledger import FileLedger
    from strata.runner.lake_state import lake_state

    weather_sales.configure()
    monkeypatch.setenv("STRATA_STATE_IN_LAKE", "true")
    spec = get_pipeline("weather_sales")
    steps = spec.build(spec.options({})).steps
    results: dict[str, list[dict[str, Any]]] = {}
    for execution in ("exec-a", "exec-b"):
        for step in steps:
            monkeypatch.setenv("STRATA_STATE_DIR", str(tmp_path / "disks" / uuid.uuid4().hex))
            result = getattr(lambdas, step_role(step))(event("weather_sales", step.name, execution))
            results.setdefault(execution, []).append(result)
    first, second = ({r["step"]: r for r in results[e]} for e in ("exec-a", "exec-b"))
    assert first["notify"]["rows_out"] == len(DAYS)  # one message per gold day
    assert first["finish"]["rows_out"] == len(DAYS)  # the landed files, found in the ledger
    assert second["upload"]["rows_out"] == 0
    assert second["land"]["rows_out"] == 0
    assert second["notify"]["rows_out"] == 0  # the checkpoint came back from the lake
    # The lake's state database holds every invocation's run and the processed files.
    settings = load_settings_with(monkeypatch, tmp_path / "reader")
    with lake_state(settings, "weather_sales"):
        ledger = FileLedger(settings.state_path)
        assert {e.status for e in ledger.entries("weather_sales")} == {"processed"}
        assert len(ledger.entries("weather_sales")) == len(DAYS)
        store = RunStore(settings.state_path)
        assert store.run("exec-b.finish.0").status == "succeeded"
        assert store.run("exec-a.upload.0").status == "succeeded"
    assert gold_rows(weather_sales) == len(DAYS) * ROWS


def load_settings_with(monkeypatch: pytest.MonkeyPatch, state_dir: Path) -> Any:
    from strata.config import load_settings

    monkeypatch.setenv("STRATA_STATE_DIR", str(state_dir))
    return load_settings(dotenv=None)


def gold_rows(setup: Any) -> int:
    return int(setup.gold().num_rows)
