"""Failure alerts on a local HTTP receiver, a local SMTP server, moto SNS and the log."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from strata.alerts import Alert, parse_channels, send_alert
from strata.config import Settings, load_settings
from strata.errors import ConfigError, SourceError
from strata.lake.storage import Lake
from strata.runner import (
    Catch,
    Pipeline,
    Retry,
    RunContext,
    Runner,
    RunStore,
    Step,
    new_run_id,
)
from strata.session import run_pipeline
from tests.conftest import free_port


class Receiver:
    """An HTTP endpoint on 127.0.0.1 keeping every JSON body POSTed to it; answers `statuses`
    in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.statuses = list(statuses or [])
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.bodies.append(json.loads(self.rfile.read(length)))
                outer.headers.append(dict(self.headers))
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def sns_topic(aws_env: str) -> Iterator[tuple[str, str]]:
    import boto3

    sns = boto3.client("sns", endpoint_url=aws_env, region_name="eu-central-1")
    sqs = boto3.client("sqs", endpoint_url=aws_env, region_name="eu-central-1")
    topic = sns.create_topic(Name=f"alerts-{random.randrange(10**6)}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"alerts-{random.randrange(10**6)}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    yield topic, queue


def published(aws_env: str, queue: str) -> list[dict[str, Any]]:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=aws_env, region_name="eu-central-1")
    answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


ALERT = Alert(
    pipeline="totesys",
    run_id="20260101T000000Z-abc123",
    step="load",
    error="DatabaseUnavailable: warehouse refused the connection",
    profile="prod",
    report="/lake/_runs/totesys/20260101T000000Z-abc123.json",
    started_at=0.0,
)


def test_every_channel_gets_the_alert(
    receiver: Receiver,
    smtp: tuple[Inbox, int],
    sns_topic: tuple[str, str],
    aws_env: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox, port = smtp
    topic, queue = sns_topic
    channels = parse_channels(
        [
            {"type": "log"},
            {"type": "webhook", "url": receiver.url},
            {"type": "email", "host": "127.0.0.1", "port": port, "sender": "s@x", "to": ["t@x"]},
            {"type": "sns", "topic_arn": topic},
        ]
    )
    deliveries = send_alert(ALERT, channels, aws_endpoint_url=aws_env)
    assert [d.ok for d in deliveries] == [True] * 4, deliveries
    slack = receiver.bodies[0]
    assert slack["run_id"] == ALERT.run_id and slack["step"] == "load"
    assert slack["blocks"][0]["type"] == "header" and "totesys failed" in slack["text"]
    mail = inbox.messages[0]
    assert "totesys failed at step load" in mail["Subject"]
    assert ALERT.report in mail.get_content() and ALERT.run_id in mail.get_content()
    note = published(aws_env, queue)[0]
    assert "DatabaseUnavailable" in note["Message"] and note["Subject"] == ALERT.subject
    assert any("Where to look" in r.getMessage() for r in caplog.records)


def test_a_broken_channel_does_not_silence_the_others(receiver: Receiver) -> None:
    dead = f"http://127.0.0.1:{free_port()}/nobody"
    flaky = Receiver(statuses=[500])  # first POST fails, the retry succeeds
    try:
        channels = parse_channels(
            [
                {"type": "webhook", "url": dead, "attempts": 2, "timeout": 1},
                {"type": "webhook", "url": flaky.url},
                {"type": "webhook", "url": receiver.url},
            ]
        )
        deliveries = send_alert(ALERT, channels)
    finally:
        flaky.close()
    assert [d.ok for d in deliveries] == [False, True, True]
    assert "after 2 attempts" in deliveries[0].detail
    assert len(flaky.bodies) == 2 and len(receiver.bodies) == 1


def test_bad_alert_settings_name_the_entry() -> None:
    with pytest.raises(ConfigError, match=r"alerts\[1\] \(email\): to"):
        load_settings(alerts=[{"type": "log"}, {"type": "email", "host": "h", "sender": "s"}])
    with pytest.raises(ConfigError, match=r"alerts\[0\]"):
        parse_channels([{"type": "pager"}])


def test_a_failed_run_alerts_with_pipeline_run_step_error_and_report(
    tmp_path: Path,
    receiver: Receiver,
    smtp: tuple[Inbox, int],
    sns_topic: tuple[str, str],
    aws_env: str,
) -> None:
    inbox, port = smtp
    topic, queue = sns_topic
    settings = Settings(
        profile="prod",
        lake=str(tmp_path / "lake"),
        state_dir=str(tmp_path / "state"),
        aws_endpoint_url=aws_env,
        alerts=[
            {"type": "webhook", "url": receiver.url},
            {"type": "email", "host": "127.0.0.1", "port": port, "sender": "s@x", "to": "t@x"},
            {"type": "sns", "topic_arn": topic},
        ],
    )
    caught: list[BaseException] = []

    def broken(ctx: RunContext) -> None:
        raise SourceError("the API answered 503 three times")

    pipeline = Pipeline(
        name="demo",
        steps=[
            Step("ok", lambda ctx: None),
            Step(
                "fetch",
                broken,
                retry=(Retry(errors=(SourceError,), interval=0, max_attempts=2),),
                catch=(Catch(lambda ctx, exc: caught.append(exc)),),
            ),
        ],
    )
    run_id = new_run_id()
    ctx = RunContext(run_id=run_id, pipeline="demo", settings=settings, lake=Lake(settings.lake))
    record = Runner(RunStore(settings.state_path), sleep=lambda _: None).run(pipeline, ctx)
    assert record.status == "failed" and len(caught) == 1  # Catch ran, then the alert went out
    report = Path(settings.lake) / "_runs" / "demo" / f"{run_id}.json"

    body = receiver.bodies[0]
    assert len(receiver.bodies) == 1  # after the retries, once
    assert (body["pipeline"], body["run_id"], body["step"], body["attempts"]) == (
        "demo",
        run_id,
        "fetch",
        3,
    )
    assert body["error"] == "SourceError: the API answered 503 three times"
    assert body["report"] == str(report)
    assert f"STRATA_ENV=prod strata runs --run {run_id}" in json.dumps(body["blocks"])
    mail = inbox.messages[0].get_content()
    note = published(aws_env, queue)[0]["Message"]
    for text in (mail, note):
        assert "Pipeline demo failed (profile prod)" in text and f"Run: {run_id}" in text
        assert "Step: fetch after 3 attempt(s)" in text
        assert "Error: SourceError: the API answered 503 three times" in text
        assert str(report) in text
    assert [(d["channel"], d["ok"]) for d in record.metrics["alerts"]] == [
        ("webhook", True),
        ("email", True),
        ("sns", True),
    ]
    # `strata runs` and the run report both carry the deliveries.
    stored = RunStore(settings.state_path).run(run_id)
    assert stored is not None and stored.metrics["alerts"] == record.metrics["alerts"]
    assert json.loads(report.read_text())["metrics"]["alerts"] == record.metrics["alerts"]
    from typer.testing import CliRunner

    from strata.cli.app import app

    env = {"STRATA_STATE_DIR": settings.state_dir}
    shown = CliRunner().invoke(app, ["runs", "--run", run_id, "--lake", settings.lake], env=env)
    assert shown.exit_code == 0, shown.output
    assert "alert via webhook: ok (HTTP 200)" in shown.output


def test_a_successful_run_or_no_channels_send_nothing(tmp_path: Path, receiver: Receiver) -> None:
    def run(alerts: list[dict[str, Any]], fn: Any) -> Any:
        settings = Settings(
            lake=str(tmp_path / "lake"), state_dir=str(tmp_path / "state"), alerts=alerts
        )
        ctx = RunContext(
            run_id=new_run_id(), pipeline="demo", settings=settings, lake=Lake(settings.lake)
        )
        pipeline = Pipeline(name="demo", steps=[Step("s", fn)])
        return Runner(RunStore(settings.state_path), sleep=lambda _: None).run(pipeline, ctx)

    def broken(ctx: RunContext) -> None:
        raise SourceError("down")

    assert run([{"type": "webhook", "url": receiver.url}], lambda ctx: None).status == "succeeded"
    failed = run([], broken)
    assert failed.status == "failed" and "alerts" not in failed.metrics
    assert receiver.bodies == []


def test_wrong_credentials_alert_without_the_password_and_load_nothing(
    tmp_path: Path, receiver: Receiver, pg_url: str
) -> None:
    secret = "s3cr3t-Pa55"
    wrong = pg_url.replace("postgres@", f"nobody:{secret}@")
    config = tmp_path / "strata.toml"
    config.touch()
    settings = load_settings(
        profile="dev",
        config_file=config,
        dotenv=None,
        lake=str(tmp_path / "lake"),
        state_dir=str(tmp_path / "state"),
        alerts=[{"type": "webhook", "url": receiver.url}],
        pipelines={"totesys": {"source_url": wrong, "connect_attempts": 1}},
    )
    record = run_pipeline("totesys", settings=settings)
    assert record.status == "failed" and record.metrics["failed_step"] == "ingest"
    text = json.dumps(receiver.bodies)
    assert "nobody" in text and secret not in text
    assert not (Path(settings.lake) / "bronze").exists()  # nothing loaded


def test_webhook_secrets_never_reach_a_payload_or_a_reason(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "Bearer t0ken-xyz")
    refusing = Receiver(statuses=[404])
    monkeypatch.setenv("HOOK_URL", refusing.url)
    try:
        channels = parse_channels(
            [
                {"type": "webhook", "url": receiver.url, "headers": {"X-Auth": "env:HOOK_TOKEN"}},
                {"type": "webhook", "url": "env:HOOK_URL"},
            ]
        )
        deliveries = send_alert(ALERT, channels)
    finally:
        refusing.close()
    assert receiver.headers[0]["X-Auth"] == "Bearer t0ken-xyz"
    assert "t0ken" not in json.dumps(receiver.bodies)
    assert [d.ok for d in deliveries] == [True, False]
    assert len(refusing.bodies) == 1  # a 4xx is not retried
    assert deliveries[1].detail == "ConnectionError: webhook refused the alert: HTTP 404"
    missing = send_alert(ALERT, parse_channels([{"type": "webhook", "url": "env:NO_SUCH_HOOK"}]))
    assert not missing[0].ok and "env:NO_SUCH_HOOK" in missing[0].detail


def test_email_logs_in_with_a_resolved_password(monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port = Inbox(), free_port()

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and data == (b"strata", b"pa55-w0rd")
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
    )
    controller.start()
    monkeypatch.setenv("SMTP_PASSWORD", "pa55-w0rd")
    base = {"type": "email", "host": "127.0.0.1", "port": port, "sender": "s@x", "to": ["t@x"]}
    try:
        deliveries = send_alert(
            ALERT,
            parse_channels(
                [
                    base | {"username": "strata", "password": "env:SMTP_PASSWORD"},
                    base | {"username": "strata", "password": "wrong-pa55"},
                ]
            ),
        )
    finally:
        controller.stop()
    assert [d.ok for d in deliveries] == [True, False]
    assert "SMTPAuthenticationError" in deliveries[1].detail
    assert "wrong-pa55" not in deliveries[1].detail
    assert len(inbox.messages) == 1 and "pa55" not in inbox.messages[0].as_string()


def test_alerts_load_from_strata_toml(tmp_path: Path) -> None:
    config = tmp_path / "strata.toml"
    config.write_text(
        """
[profiles.prod]
lake = "s3://bucket/lake"

[[profiles.prod.alerts]]
type = "log"

[[profiles.prod.alerts]]
type = "webhook"
url = "env:SLACK_WEBHOOK_URL"
headers = { "X-Team" = "data" }

[[profiles.prod.alerts]]
type = "email"
host = "smtp.example.com"
port = 587
sender = "strata@example.com"
to = ["data-team@example.com"]
username = "strata"
password = "env:SMTP_PASSWORD"
starttls = true

[[profiles.prod.alerts]]
type = "sns"
topic_arn = "arn:aws:sns:eu-west-1:123456789012:strata-alerts"
"""
    )
    settings = load_settings(profile="prod", config_file=config, dotenv=None)
    channels = parse_channels(settings.alerts)
    assert [c.type for c in channels] == ["log", "webhook", "email", "sns"]
    assert settings.alerts[1]["url"] == "env:SLACK_WEBHOOK_URL"  # resolved only when sending
    assert load_settings(profile="dev", config_file=config, dotenv=None).alerts == []
    config.write_text(
        config.read_text().replace('topic_arn = "arn:aws:sns:', 'topic_arn = "arn:aws:sqs:')
    )
    with pytest.raises(ConfigError, match=r"alerts\[3\] \(sns\): topic_arn: expected arn:aws:sns"):
        load_settings(profile="prod", config_file=config, dotenv=None)


def test_alert_entries_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"alerts\[0\] \(webhook\): url: Field required"):
        parse_channels([{"type": "webhook"}])
    with pytest.raises(ConfigError, match=r"alerts\[0\] \(email\): choose starttls"):
        parse_channels(
            [
                {
                    "type": "email",
                    "host": "h",
                    "sender": "s",
                    "to": "t",
                    "ssl": True,
                    "starttls": True,
                }
            ]
        )
    with pytest.raises(ConfigError, match=r"alerts\[0\] \(log\): colour: Extra inputs"):
        parse_channels([{"type": "log", "colour": "red"}])


def test_the_subject_fits_sns() -> None:
    long = Alert(**{**ALERT.__dict__, "pipeline": "pipeline-é" + "x" * 120})
    assert len(long.subject) == 100 and long.subject.isascii()
    assert ALERT.command == "STRATA_ENV=prod strata runs --run 20260101T000000Z-abc123"
