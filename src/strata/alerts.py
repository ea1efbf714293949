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
    starttls = true                       # or ssl = true (SMTPS, port 465)

    [[profiles.prod.alerts]]
    type = "sns"                          # boto3 publish
    topic_arn = "arn:aws:sns:eu-central-1:123456789012:strata-alerts"

    [[profiles.prod.alerts]]
    type = "log"                          # the `strata.alerts` logger, level ERROR

An alert names the pipeline, run id, failed step (and its attempts), error and where to look
(the run report and `strata runs --run ID`). Every channel is tried even when another fails; a
failing channel is logged and recorded with its reason, never raised: an alert must not hide
the failure it reports. Without `alerts` in the profile nothing is sent (the failure is still
in the run history and report). The webhook `url` and `headers` values and the email
`username`/`password` may be secret references (`env:`, `fernet:`, `aws-sm:`); they are
resolved when the alert is sent and never appear in a payload or a delivery's reason.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Annotated, Any, Literal

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

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
    ssl: bool = False
    timeout: float = 10.0

    @field_validator("to", mode="before")
    @classmethod
    def _one_recipient(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_tls_mode(self) -> EmailChannel:
        if self.starttls and self.ssl:
            raise ValueError("choose starttls (port 587) or ssl (port 465), not both")
        return self


class SnsChannel(_Channel):
    type: Literal["sns"]
    topic_arn: str
    region: str | None = None
    endpoint_url: str | None = None

    @field_validator("topic_arn")
    @classmethod
    def _an_sns_arn(cls, value: str) -> str:
        parts = value.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[3]:
            raise ValueError("expected arn:aws:sns:<region>:<account>:<topic>")
        return value


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
            where = ".".join(str(p) for p in first["loc"][1:])
            if not where and str(first["type"]).startswith("union_tag"):
                where = "type"
            kind = item.get("type", "?") if isinstance(item, dict) else "?"
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ConfigError(
                f"alerts[{index}] ({kind}): {where + ': ' if where else ''}{message}"
            ) from exc
    return channels


@dataclass(frozen=True)
class Alert:
    """A failed run, as the channels report it.

    `error` is the failure as `Type: message` (already redacted where it was raised: database
    URLs never carry their password); `attempts` is how often the failed step was tried.
    """

    pipeline: str
    run_id: str
    step: str | None
    error: str
    profile: str
    report: str
    started_at: float
    failed_at: float = field(default_factory=time.time)
    attempts: int | None = None

    @property
    def subject(self) -> str:
        """One line of at most 100 printable ASCII characters (what SNS accepts)."""
        step = f" at step {self.step}" if self.step else ""
        line = f"[strata] {self.pipeline} failed{step} (run {self.run_id})"
        return "".join(c if " " <= c <= "~" else "?" for c in line)[:100]

    @property
    def command(self) -> str:
        """The command that shows this run's steps (on the profile the run used)."""
        env = "" if self.profile == "dev" else f"STRATA_ENV={self.profile} "
        return f"{env}strata runs --run {self.run_id}"

    def _when(self, at: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))

    def text(self) -> str:
        tries = f" after {self.attempts} attempt(s)" if self.attempts else ""
        return (
            f"Pipeline {self.pipeline} failed (profile {self.profile}).\n"
            f"Run: {self.run_id}\n"
            f"Step: {self.step or '-'}{tries}\n"
            f"Error: {self.error}\n"
            f"Started at: {self._when(self.started_at)}\n"
            f"Failed at: {self._when(self.failed_at)}\n"
            f"Where to look: {self.report} — or `{self.command}`"
        )

    def slack(self) -> dict[str, Any]:
        """A Slack incoming-webhook payload (also plain JSON for other receivers)."""
        tries = f" ({self.attempts} attempts)" if self.attempts else ""
        fields = [
            {"type": "mrkdwn", "text": f"*Pipeline*\n{self.pipeline}"},
            {"type": "mrkdwn", "text": f"*Run*\n{self.run_id}"},
            {"type": "mrkdwn", "text": f"*Step*\n{self.step or '-'}{tries}"},
            {"type": "mrkdwn", "text": f"*Profile*\n{self.profile}"},
        ]
        look = f"Run report: {self.report} · `{self.command}`"
        return {
            "text": self.subject + f": {self.error}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": self.subject[:150]}},
                {"type": "section", "fields": fields},
                # Slack limits a text block to 3000 characters.
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"```{self.error[:2900]}```"},
                },
                {"type": "context", "elements": [{"type": "mrkdwn", "text": look}]},
            ],
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "step": self.step,
            "attempts": self.attempts,
            "error": self.error,
            "profile": self.profile,
            "report": self.report,
            "started_at": self._when(self.started_at),
            "failed_at": self._when(self.failed_at),
        }


@dataclass(frozen=True)
class Delivery:
    """How one channel took the alert."""

    channel: str
    ok: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "ok": self.ok, "detail": self.detail}


class _Secrets:
    """Resolves a channel's secret references and keeps what it must never repeat."""

    def __init__(self) -> None:
        self.hidden: list[str] = []

    def __call__(self, value: str | None, *, hide: bool = False) -> str | None:
        from strata.secrets import is_reference, resolve

        if value is None:
            return None
        plain = resolve(value)
        if (hide or is_reference(value)) and plain:
            self.hidden.append(plain)
        return plain

    def scrub(self, text: str) -> str:
        for value in sorted(self.hidden, key=len, reverse=True):
            text = text.replace(value, "***")
        return text


def send_alert(
    alert: Alert, channels: Sequence[Channel], *, aws_endpoint_url: str | None = None
) -> list[Delivery]:
    """Deliver `alert` to every channel; failures are recorded, never raised."""
    deliveries = []
    for channel in channels:
        secrets = _Secrets()
        try:
            detail = _SENDERS[channel.type](alert, channel, secrets, aws_endpoint_url)
            deliveries.append(Delivery(channel.type, True, detail))
        except Exception as exc:  # one broken channel must not silence the others
            message = str(exc).strip().splitlines()
            reason = secrets.scrub(f"{type(exc).__name__}: {message[0] if message else ''}")
            log.warning("alert channel %s failed: %s", channel.type, reason)
            deliveries.append(Delivery(channel.type, False, reason))
    return deliveries


def _log(alert: Alert, channel: Any, secrets: _Secrets, _: str | None) -> str:
    log.error("%s", alert.text())
    return "logged"


RETRY_STATUS = frozenset({429}) | frozenset(range(500, 600))


def _webhook(alert: Alert, channel: Any, secrets: _Secrets, _: str | None) -> str:
    # A webhook URL is a credential in itself (Slack's are): never repeated in a reason.
    url = secrets(channel.url, hide=True) or ""
    headers = {name: secrets(value) or "" for name, value in channel.headers.items()}
    last = ""
    for attempt in range(1, channel.attempts + 1):
        try:
            response = httpx.post(url, json=alert.slack(), headers=headers, timeout=channel.timeout)
        except httpx.HTTPError as exc:  # connection refused, timeouts: worth another try
            last = type(exc).__name__
        except httpx.InvalidURL:
            raise ValueError("webhook url is not a valid URL") from None
        else:
            if response.status_code not in RETRY_STATUS:
                if response.is_success:
                    return f"HTTP {response.status_code}"
                # Not the URL: httpx's own message would repeat it.
                raise ConnectionError(f"webhook refused the alert: HTTP {response.status_code}")
            last = f"HTTP {response.status_code}"
        if attempt < channel.attempts:
            time.sleep(0.2 * 2 ** (attempt - 1))
    raise ConnectionError(f"webhook not delivered after {channel.attempts} attempts ({last})")


def _email(alert: Alert, channel: Any, secrets: _Secrets, _: str | None) -> str:
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message.set_content(alert.text())
    smtp_class: Callable[..., smtplib.SMTP] = smtplib.SMTP_SSL if channel.ssl else smtplib.SMTP
    with smtp_class(channel.host, channel.port, timeout=channel.timeout) as smtp:
        if channel.starttls:
            smtp.starttls()
        if channel.username:
            smtp.login(secrets(channel.username) or "", secrets(channel.password, hide=True) or "")
        smtp.send_message(message)
    return f"sent to {len(channel.to)} recipient(s)"


def _sns(alert: Alert, channel: Any, secrets: _Secrets, aws_endpoint_url: str | None) -> str:
    import boto3

    client = boto3.client(
        "sns",
        region_name=channel.region or channel.topic_arn.split(":")[3],
        endpoint_url=channel.endpoint_url or aws_endpoint_url,
    )
    answer = client.publish(TopicArn=channel.topic_arn, Subject=alert.subject, Message=alert.text())
    return f"message {answer.get('MessageId', '?')}"


_SENDERS: dict[str, Callable[[Alert, Any, _Secrets, str | None], str]] = {
    "log": _log,
    "webhook": _webhook,
    "email": _email,
    "sns": _sns,
}
