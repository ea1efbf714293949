"""`strata export asl`: the state machines of every pipeline, and a run of the exported machine
on moto's Step Functions (execution mode) whose tasks are answered by a `TaskWorker` through
a moto SQS queue, compared with the local runner on the same pipeline: the same steps, tries
and outcome on the success path and on the failure path (retries exhausted → alert → failed).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from botocore.exceptions import ClientError
from typer.testing import CliRunner

import strata
from strata.aws import asl
from strata.aws.glue import spark_steps
from strata.aws.tasks import TaskWorker
from strata.cli.app import app
from strata.config import Settings, load_settings
from strata.errors import ConfigError, TransientError
from strata.pipelines import get_pipeline, pipeline_names
from strata.queues import open_queue
from strata.runner import Runner, RunStore
from strata.session import query, run_pipeline
from strata.testing import assert_same_rows
from tests.conftest import free_port

PIPELINES = ["weather_sales", "smartsensor", "shopease", "retail_marts", "totesys"]


def build(name: str, settings: Settings | None = None) -> Any:
    spec = get_pipeline(name)
    values = settings.pipeline_options(name) if settings else {}
    return spec.build(spec.options(values))


# -- the definitions ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", PIPELINES)
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_pipeline_exports_a_complete_state_machine(name: str, env: str) -> None:
    pipeline = build(name)
    machine = asl.state_machine(pipeline, env)
    states = machine["States"]
    steps = [s.name for s in pipeline.steps]
    assert machine["StartAt"] == steps[0]
    # The steps in order, each to the next, the last to Succeeded.
    assert [states[s]["Next"] for s in steps] == [*steps[1:], asl.SUCCEEDED]
    for name_, state in states.items():
        for target in [state.get("Next")] + [c["Next"] for c in state.get("Catch", [])]:
            assert target is None or target in states, f"{name_} → {target}"
    engine = set(spark_steps(name))
    for step in pipeline.steps:
        state = states[step.name]
        assert state["Catch"] == [
            {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.failure",
                "Next": f"{step.name} failed",
            }
        ]
        if step.on_premises:  # waits for a `strata tasks` worker on the premises
            assert state["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
            assert state["Parameters"]["QueueUrl"] == "${onprem_tasks_queue_url}"
            assert state["Parameters"]["MessageBody"]["task_token.$"] == "$$.Task.Token"
            assert state["TimeoutSeconds"] == asl.CALLBACK_TIMEOUT
            own = state["Retry"]
        elif step.name in engine:  # the Glue job strata.aws.glue writes a script for
            assert state["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
            assert state["Parameters"]["JobName"] == f"strata-{env}-{name}-{step.name}"
            own = state["Retry"]
            assert all(r["ErrorEquals"] == ["States.TaskFailed"] for r in own)
        else:
            assert state["Resource"] == "arn:aws:states:::lambda:invoke"
            function = state["Parameters"]["FunctionName"]
            assert function == f"strata-{env}-{asl.step_role(step)}"
            assert state["Parameters"]["Payload"]["step"] == step.name
            assert state["Retry"][0]["ErrorEquals"] == list(asl.LAMBDA_SERVICE_ERRORS)
            own = state["Retry"][1:]
        assert len(own) == len(step.retry)
        for clause, local in zip(own, step.retry, strict=True):
            assert clause["MaxAttempts"] == local.max_attempts
            assert clause["BackoffRate"] == max(1.0, local.backoff_rate)
    assert states[asl.FAILED]["Type"] == "Fail"
    assert states[asl.NOTIFY_FAILURE]["Parameters"]["FunctionName"] == f"strata-{env}-notify"


def test_only_the_weather_sales_upload_runs_on_the_premises() -> None:
    onprem = {(n, s.name) for n in PIPELINES for s in build(n).steps if s.on_premises}
    assert onprem == {("weather_sales", "upload")}


def test_retry_names_cover_every_subclass_of_the_retried_errors() -> None:
    for module in pkgutil.walk_packages(strata.__path__, "strata."):
        if module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)

    def every(cls: type) -> set[str]:
        return {cls.__name__}.union(*(every(sub) for sub in cls.__subclasses__()))

    assert set(asl.error_names([TransientError])) == every(TransientError)
    assert "QueueUnavailable" in asl.error_names([TransientError])
    assert asl.error_names([Exception]) == ["States.TaskFailed"]
    clause = asl.retry_clause(
        asl.Retry(interval=0.2, max_attempts=4, backoff_rate=0.5, max_delay=7.5, jitter=True)
    )
    assert clause["IntervalSeconds"] == 1  # ASL counts whole seconds, at least 1
    assert clause["BackoffRate"] == 1.0
    assert clause["MaxDelaySeconds"] == 8
    assert clause["JitterStrategy"] == "FULL"


def test_cli_writes_one_file_per_pipeline(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["export", "asl", "--all", "--env", "prod", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(f"{n}.asl.json" for n in pipeline_names())
    machine = json.loads((tmp_path / "totesys.asl.json").read_text())
    assert machine["StartAt"] == "ingest"
    one = runner.invoke(app, ["export", "asl", "smartsensor", "--engine-steps", "lambda"])
    assert json.loads(one.stdout)["States"]["refine"]["Parameters"]["FunctionName"] == (
        "strata-dev-process"
    )


def test_committed_definitions_are_up_to_date() -> None:
    """deploy/asl/<env>/*.asl.json (what Terraform deploys) equal a fresh export."""
    root = Path(__file__).resolve().parents[2] / "deploy" / "asl"
    for env in ("dev", "prod"):
        settings = load_settings(profile=env, config_file=root.parents[1] / "strata.toml")
        for name in PIPELINES:
            committed = (root / env / f"{name}.asl.json").read_text()
            fresh = asl.to_json(asl.state_machine(build(name, settings), env))
            assert committed == fresh, f"regenerate: strata export asl --all --env {env} --out …"


def test_the_callback_mode_needs_its_queue() -> None:
    with pytest.raises(ConfigError, match="queue URL"):
        asl.TaskResources(mode="callback")


# -- a run on moto's Step Functions --------------------------------------------------------------


@pytest.fixture
def sfn(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """moto's Step Functions with execution on; its service integrations call back into the
    same moto server (MOTO_PORT)."""
    import boto3

    monkeypatch.setenv("MOTO_PORT", str(urlparse(aws_env).port))
    config = {"stepfunctions": {"execute_state_machine": True}}
    requests.post(f"{aws_env}/moto-api/config", json=config, timeout=10).raise_for_status()
    return boto3.client("stepfunctions")


def write_config(root: Path, api_url: str) -> Path:
    """A strata.toml the task worker and the local runner both read (alerts to the log)."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "strata.toml"
    config.write_text(
        "[profiles.dev]\n"
        f'lake = "{root / "lake"}"\n'
        f'state_dir = "{root / "state"}"\n'
        "lease_ttl_seconds = 5\n"
        'alerts = [{type = "log"}]\n'
        "[profiles.dev.pipelines.smartsensor]\n"
        f'api_url = "{api_url}"\n'
        "sensors = 4\n"
        "days = 5\n"
        "check_retry_interval = 1\n"
        "check_max_attempts = 1\n"
        "request_attempts = 1\n"
    )
    return config


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("STRATA_ENV", "dev")
    yield tmp_path


def configure(root: Path, api_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    config = write_config(root, api_url)
    monkeypatch.setenv("STRATA_CONFIG", str(config))
    return load_settings(profile="dev", config_file=config, dotenv=None)


INPUT = {"start_date": "2024-01-01", "end_date": "2024-01-05"}


def execute(
    sfn: Any, root: Path, aws_env: str, settings: Settings
) -> tuple[dict[str, Any], list[Any], list[str]]:
    """Export smartsensor in callback mode, run it on moto with a TaskWorker answering the
    tasks; the execution, the worker's outcomes and the states entered, in order."""
    import boto3

    queue_url = boto3.client("sqs").create_queue(QueueName=f"tasks-{uuid.uuid4().hex[:8]}")[
        "QueueUrl"
    ]
    resources = asl.TaskResources(mode="callback", callback_queue_url=queue_url)
    definition = asl.state_machine(build("smartsensor", settings), "dev", resources)
    machine = sfn.create_state_machine(
        name=f"strata-dev-smartsensor-{uuid.uuid4().hex[:6]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/strata-dev-sfn",
    )["stateMachineArn"]
    started = sfn.start_execution(
        stateMachineArn=machine, name=f"run-{uuid.uuid4().hex[:8]}", input=json.dumps(INPUT)
    )["executionArn"]
    done = threading.Event()
    with open_queue(queue_url, state_dir=root / "state", endpoint_url=aws_env) as queue:
        worker = TaskWorker(queue, sfn, wait_seconds=1, visibility_timeout=60)
        thread = threading.Thread(target=worker.run, kwargs={"stop": done.is_set})
        thread.start()
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                execution = sfn.describe_execution(executionArn=started)
                if execution["status"] != "RUNNING":
                    break
                time.sleep(0.3)
        finally:
            done.set()
            thread.join(timeout=30)
    events = sfn.get_execution_history(executionArn=started, maxResults=1000)["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    return execution, worker.outcomes, entered


def local_run(root: Path, api_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[Any]]:
    settings = configure(root, api_url, monkeypatch)
    runner = Runner(RunStore(settings.state_path), sleep=lambda _: None)
    record = run_pipeline(
        "smartsensor",
        settings=settings,
        runner=runner,
        start_date=date(2024, 1, 1),
        end_date=date(2024, 1, 5),
    )
    return record, [(a.step, a.status) for a in runner.store.attempts(record.run_id)]


GOLD = (
    "SELECT region, dt, sensors, avg_temperature, total_precipitation "
    "FROM smartsensor.regional_daily ORDER BY 1, 2"
)


def test_the_exported_machine_succeeds_as_the_local_run_does(
    sfn: Any, aws_env: str, workspace: Path, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, local_tries = local_run(workspace / "local", api.url, monkeypatch)
    assert local.status == "succeeded", local.error

    settings = configure(workspace / "sfn", api.url, monkeypatch)
    execution, outcomes, entered = execute(sfn, workspace / "sfn", aws_env, settings)
    assert execution["status"] == "SUCCEEDED", execution
    steps = [s.name for s in build("smartsensor").steps]
    assert entered == [*steps, asl.SUCCEEDED]
    assert [(o.step, o.status) for o in outcomes] == local_tries
    output = json.loads(execution["output"])
    assert output["steps"]["extract"]["rows_out"] == local.metrics["extract"]["rows_out"] > 0
    # Each task ran as its own run, named after the execution, recorded in the history.
    name = execution["executionArn"].rsplit(":", 1)[-1]
    assert output["steps"]["refine"]["run_id"] == f"{name}.refine.0"
    assert RunStore(settings.state_path).run(f"{name}.publish.0").status == "succeeded"
    # Same gold as the local run.
    # Same gold as the local run (float sums may differ in the last bit: summation order).
    want = query(GOLD, local_settings(workspace))
    assert want.num_rows > 0
    assert_same_rows(query(GOLD, settings), want, ["region", "dt"], rel=1e-9)


def local_settings(workspace: Path) -> Settings:
    return load_settings(
        profile="dev", config_file=workspace / "local" / "strata.toml", dotenv=None
    )


def test_the_exported_machine_fails_as_the_local_run_does(
    sfn: Any, aws_env: str, workspace: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: the health check fails
    local, local_tries = local_run(workspace / "local", down, monkeypatch)
    assert local.status == "failed"
    assert local_tries == [("check", "failed"), ("check", "failed")]  # 1 try + 1 retry
    assert [d["channel"] for d in local.metrics["alerts"]] == ["log"]

    settings = configure(workspace / "sfn", down, monkeypatch)
    caplog.clear()
    execution, outcomes, entered = execute(sfn, workspace / "sfn", aws_env, settings)
    assert execution["status"] == "FAILED"
    assert [(o.step, o.status) for o in outcomes if o.step] == local_tries
    assert entered == ["check", "check failed", asl.NOTIFY_FAILURE, asl.FAILED]
    # The alert task ran (and only it, after the failed tries), with the step and the error.
    alert = [o for o in outcomes if o.step is None]
    assert [o.status for o in alert] == ["succeeded"]
    name = execution["executionArn"].rsplit(":", 1)[-1]
    alerts = [r.getMessage() for r in caplog.records if r.name == "strata.alerts"]
    assert len(alerts) == 1
    # moto passes SendTaskFailure's error on but drops its cause: AWS keeps both.
    assert f"Run: {name}\nStep: check\nError: SourceUnavailable" in alerts[0]


def test_the_tasks_command_drops_what_nobody_waits_for(
    sfn: Any, aws_env: str, workspace: Path, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    configure(workspace, api.url, monkeypatch)
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"tasks-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="not a task")
    stale = {"action": "step", "pipeline": "smartsensor", "step": "check", "env": "dev"}
    stale |= {"execution": "gone", "retry": 0, "input": {}, "task_token": "no-such-token"}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(stale))
    result = CliRunner().invoke(app, ["tasks", "--queue", url, "--once", "--wait", "1"])
    assert result.exit_code == 0, result.output
    assert "1 succeeded" not in result.output
    assert "1 malformed" in result.output and "1 expired" in result.output
    # The step itself ran (its run is in the history); only the answer had nobody to go to.
    assert RunStore(workspace / "state").run("gone.check.0").status == "succeeded"
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"
    ]["ApproximateNumberOfMessages"]
    assert left == "0"


def test_the_deployed_definitions_pass_the_asl_parser(sfn: Any) -> None:
    """moto's Step Functions (execution mode) parses and validates a definition on creation,
    with LocalStack's ASL parser: every committed Lambda/Glue definition is accepted. (It
    checks syntax and types, not that every Next exists: the structural test above does.)"""
    root = Path(__file__).resolve().parents[2] / "deploy" / "asl"
    for path in sorted(root.glob("*/*.asl.json")):
        arn = sfn.create_state_machine(
            name=f"check-{path.parent.name}-{path.name.split('.')[0]}-{uuid.uuid4().hex[:4]}",
            definition=path.read_text(),
            roleArn="arn:aws:iam::123456789012:role/strata-sfn",
        )["stateMachineArn"]
        described = sfn.describe_state_machine(stateMachineArn=arn)
        assert json.loads(described["definition"])["StartAt"]
    broken = json.loads((root / "dev" / "totesys.asl.json").read_text())
    broken["States"]["ingest"]["Retry"][1]["BackoffRate"] = "twice"
    with pytest.raises(ClientError, match="ASLParserException"):  # the parser does check
        sfn.create_state_machine(
            name=f"broken-{uuid.uuid4().hex[:4]}",
            definition=json.dumps(broken),
            roleArn="arn:aws:iam::123456789012:role/strata-sfn",
        )
