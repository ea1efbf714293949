"""Failure alerts: after a run fails (its step's retries exhausted, Catch handlers run), every
channel configured in the profile hears of it.

    [[profiles.prod.alerts]]
    type = "webhook"                      # JSON POST, Slack-compatible (text + blocks)
    url = "env:SLACK_WEBHOOK_URL"

    [[profiles.prod.alerts]]
    type = "email"                        # SMTP
    host = "smtp.example.com"
    port = 587
    sender = "strata@example.com"
    to = ["data-team@example.com"]
    username = "strata"
    password = "env:SMTP_PASSWORD"
    starttls = true

    [[profiles.prod.alerts]]
    type = "sns"                          # boto3 publish
    topic_arn = "arn:aws:sns:eu-central-1:123456789012:strata-alerts"

    [[profiles.prod.alerts]]
    type = "log"                          # the `strata.alerts` logger, level ERROR

An alert names the pipeline, run id, failed step, error and where to look (the run report and
`strata runs --run ID`). Every channel is tried even when another fails; a failing channel is
logged and recorded with its reason, never raised: an alert must not hide the failure it
reports. Values may be secret references (`env:`, `fernet:`, `aws-sm:`); they are resolved
when the alert is sent and never appear in a payload.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from strata.errors import ConfigError

log = logging.getLogger("strata.alerts")


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LogChannel(_Channel):
    type: Literal["log"]


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = 10.0
    attempts: int = Field(3, ge=1)


class EmailChannel(_Channel):
    type: Literal["email"]
    host: str
    port: int = 25
    sender: str
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


class SnsChannel(_Channel):
    type: Literal["sns"]
    topic_arn: str
    region: str | None = None
    endpoint_url: str | None = None


Channel = Annotated[
    LogChannel | WebhookChannel | EmailChannel | SnsChannel, Field(discriminator="type")
]
_CHANNEL = TypeAdapter(Channel)


def parse_channels(items: Sequence[dict[str, Any]]) -> list[Channel]:
    """The profile's `alerts` entries as channels; ConfigError naming the bad entry."""
    channels: list[Channel] = []
    for index, item in enumerate(items):
        try:
            channels.append(_CHANNEL.validate_python(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"][1:]) or "type"
            kind = item.get("type", "?") if isinstance(item, dict) else "?"
            raise ConfigError(f"alerts[{index}] ({kind}): {where}: {first['msg']}") from exc
    return channels


@dataclass(frozen=True)
class Alert:
    """A failed run, as the channels report it."""

    pipeline: str
    run_id: str
    step: str | None
    error: str
    profile: str
    report: str
    started_at: float
    failed_at: float = field(default_factory=time.time)

    @property
    def subject(self) -> str:
        step = f" at step {self.step}" if self.step else ""
        return f"[strata] {self.pipeline} failed{step} (run {self.run_id})"[:100]

    def text(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.failed_at))
        return (
            f"Pipeline {self.pipeline} failed (profile {self.profile}).\n"
            f"Run: {self.run_id}\n"
            f"Step: {self.step or '-'}\n"
            f"Error: {self.error}\n"
            f"Failed at: {when}\n"
            f"Where to look: {self.report} — or `strata runs --run {self.run_id}`"
        )

    def slack(self) -> dict[str, Any]:
        """A Slack incoming-webhook payload (also plain JSON for other receivers)."""
        fields = [
            {"type": "mrkdwn", "text": f"*Pipeline*\n{self.pipeline}"},
            {"type": "mrkdwn", "text": f"*Run*\n{self.run_id}"},
            {"type": "mrkdwn", "text": f"*Step*\n{self.step or '-'}"},
            {"type": "mrkdwn", "text": f"*Profile*\n{self.profile}"},
        ]
        look = f"Run report: {self.report} · `strata runs --run {self.run_id}`"
        return {
            "text": self.subject + f": {self.error}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": self.subject}},
                {"type": "section", "fields": fields},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"```{self.error}```"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": look}]},
            ],
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "step": self.step,
            "error": self.error,
            "report": self.report,
        }


@dataclass(frozen=True)
class Delivery:
    """How one channel took the alert."""

    channel: str
    ok: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "ok": self.ok, "detail": self.detail}


def send_alert(
    alert: Alert, channels: Sequence[Channel], *, aws_endpoint_url: str | None = None
) -> list[Delivery]:
    """Deliver `alert` to every channel; failures are recorded, never raised."""
    deliveries = []
    for channel in channels:
        try:
            detail = _SENDERS[channel.type](alert, channel, aws_endpoint_url)
            deliveries.append(Delivery(channel.type, True, detail))
        except Exception as exc:  # one broken channel must not silence the others
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.warning("alert channel %s failed: %s", channel.type, reason)
            deliveries.append(Delivery(channel.type, False, reason))
    return deliveries


def _resolve(value: str | None) -> str | None:
    from strata.secrets import resolve

    return None if value is None else resolve(value)


def _log(alert: Alert, channel: Any, _: str | None) -> str:
    log.error("%s", alert.text())
    return "logged"


def _webhook(alert: Alert, channel: Any, _: str | None) -> str:
    url = _resolve(channel.url) or ""
    last = ""
    for attempt in range(1, channel.attempts + 1):
        try:
            response = httpx.post(
                url, json=alert.slack(), headers=channel.headers, timeout=channel.timeout
            )
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}"
        else:
            if response.status_code < 500:
                response.raise_for_status()
                return f"HTTP {response.status_code}"
            last = f"HTTP {response.status_code}"
        if attempt < channel.attempts:
            time.sleep(0.2 * 2 ** (attempt - 1))
    raise ConnectionError(f"webhook not delivered after {channel.attempts} attempts ({last})")


def _email(alert: Alert, channel: Any, _: str | None) -> str:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(alert.text())
    with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout) as smtp:
        if channel.starttls:
            smtp.starttls()
        if channel.username:
            smtp.login(channel.username, _resolve(channel.password) or "")
        smtp.send_message(message)
    return f"sent to {len(channel.to)} recipient(s)"


def _sns(alert: Alert, channel: Any, aws_endpoint_url: str | None) -> str:
    import boto3

    client = boto3.client(
        "sns",
        region_name=channel.region or channel.topic_arn.split(":")[3],
        endpoint_url=channel.endpoint_url or aws_endpoint_url,
    )
    answer = client.publish(TopicArn=channel.topic_arn, Subject=alert.subject, Message=alert.text())
    return f"message {answer.get('MessageId', '?')}"


_SENDERS = {"log": _log, "webhook": _webhook, "email": _email, "sns": _sns}
