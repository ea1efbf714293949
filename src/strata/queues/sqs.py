"""Amazon SQS through boto3 (standard and FIFO queues), and `ensure_queue` to create one.

A queue whose name ends in `.fifo` is FIFO: every message is sent with a group id (default
`DEFAULT_GROUP`) and a deduplication id (the one given, else a SHA-256 of the body), so the
queue needs no content-based deduplication setting. Long polling uses `WaitTimeSeconds`
(at most 20 s per call; longer waits loop). Visibility timeouts and waits are whole seconds
for SQS: fractions are rounded up. Redrive to the dead-letter queue is the queue's own
`RedrivePolicy` (set by `ensure_queue` or your infrastructure code).

boto3 is the `aws` extra; it is imported when a queue is opened. Errors become `QueueError`s
naming the queue URL: `QueueUnavailable` (endpoint unreachable, throttling, 5xx: retry),
`QueueNotFound`, or `QueueError` (access denied, invalid request, no credentials).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from strata.errors import ConfigError, MissingDependency
from strata.queues.base import (
    DEFAULT_GROUP,
    DEFAULT_MAX_RECEIVES,
    DEFAULT_VISIBILITY,
    DEFAULT_WAIT,
    Message,
    Queue,
    QueueError,
    QueueNotFound,
    QueueUnavailable,
    check_batch,
    check_name,
    dedup_token,
    dlq_name_for,
)

MAX_WAIT = 20
"""SQS's longest `WaitTimeSeconds` for one ReceiveMessage call."""
_AWS_HOST = re.compile(r"sqs[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_NOT_FOUND = {
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NonExistentQueue",
}
_TRANSIENT = {
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
    "KmsThrottled",
    "RequestTimeout",
}
_EXISTS = {"QueueAlreadyExists", "QueueNameExists", "AWS.SimpleQueueService.QueueNameExists"}


class SQSQueue(Queue):
    """The SQS queue at `url` (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, or an
    emulator's `http://127.0.0.1:PORT/ACCOUNT/NAME`).

    `endpoint_url` defaults to the URL's own host for non-AWS hosts (else boto3's default, which
    honours `AWS_ENDPOINT_URL`); `region` defaults to the one in an AWS URL, else boto3's.
    `visibility_timeout` is sent with every receive that does not give its own.
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        visibility_timeout: float = DEFAULT_VISIBILITY,
        client: Any = None,
    ) -> None:
        self.url = _redact(url)
        self.name = check_name(url.rstrip("/").rsplit("/", 1)[-1])
        self.visibility_timeout = visibility_timeout
        self._queue_url = url
        self._owns_client = client is None
        if client is None:
            client = sqs_client(endpoint_url or _emulator_endpoint(url), region or _region(url))
        self._client = client
        self._dlq: SQSQueue | None = None
        self._dlq_known = False

    # -- sending ---------------------------------------------------------------------------
    def send(self, body: str, *, group_id: str | None = None, dedup_id: str | None = None) -> str:
        params: dict[str, Any] = {"QueueUrl": self._queue_url, "MessageBody": body}
        if self.fifo:
            params["MessageGroupId"] = group_id or DEFAULT_GROUP
            params["MessageDeduplicationId"] = dedup_token(body, dedup_id)
        with self._calling("send"):
            return str(self._client.send_message(**params)["MessageId"])

    # -- receiving -------------------------------------------------------------------------
    def receive(
        self,
        *,
        max_messages: int = 1,
        wait_seconds: float = DEFAULT_WAIT,
        visibility_timeout: float | None = None,
    ) -> list[Message]:
        count = check_batch(max_messages)
        hidden = self.visibility_timeout if visibility_timeout is None else visibility_timeout
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            left = deadline - time.monotonic()
            messages = self._receive_once(count, _wait_chunk(left), _whole_seconds(hidden))
            if messages or deadline - time.monotonic() < 0.5:
                return messages

    def _receive_once(self, count: int, wait: int, hidden: int) -> list[Message]:
        with self._calling("receive"):
            answer = self._client.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait,
                VisibilityTimeout=hidden,
                MessageSystemAttributeNames=["All"],
            )
        return [_message(item) for item in answer.get("Messages", [])]

    # -- settling --------------------------------------------------------------------------
    def delete(self, message: Message) -> None:
        with self._calling(f"delete message {message.id}"):
            self._client.delete_message(
                QueueUrl=self._queue_url, ReceiptHandle=message.receipt_handle
            )

    def extend(self, message: Message, seconds: float) -> None:
        with self._calling(f"change the visibility of message {message.id}"):
            self._client.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=message.receipt_handle,
                VisibilityTimeout=_whole_seconds(seconds),
            )

    # -- inspecting ------------------------------------------------------------------------
    def depth(self, *, in_flight: bool = False) -> int:
        names = ["ApproximateNumberOfMessages"]
        if in_flight:
            names.append("ApproximateNumberOfMessagesNotVisible")
        attributes = self._attributes(*names)
        return sum(int(attributes.get(name, 0)) for name in names)

    @property
    def dlq(self) -> SQSQueue | None:
        """The queue the `RedrivePolicy` names (looked up once), or None without one."""
        if not self._dlq_known:
            self._dlq = self._find_dlq()
            self._dlq_known = True
        return self._dlq

    def _find_dlq(self) -> SQSQueue | None:
        policy = self._attributes("RedrivePolicy").get("RedrivePolicy")
        if not policy:
            return None
        arn = str(json.loads(policy)["deadLetterTargetArn"])
        account, name = arn.split(":")[4], arn.split(":")[5]
        with self._calling(f"find the dead-letter queue {name}"):
            url = self._client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
        return SQSQueue(
            str(url["QueueUrl"]), visibility_timeout=self.visibility_timeout, client=self._client
        )

    def _attributes(self, *names: str) -> dict[str, str]:
        with self._calling("read attributes"):
            answer = self._client.get_queue_attributes(
                QueueUrl=self._queue_url, AttributeNames=list(names)
            )
        return dict(answer.get("Attributes", {}))

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
        self._client = None

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        if self._client is None:
            raise QueueError(self.url, "the queue is closed")
        with translate_errors(self.url, what):
            yield


def sqs_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 SQS client whose read timeout outlasts a 20 s long poll, with 3 attempts."""
    try:
        import boto3
        from botocore.config import Config
    except ModuleNotFoundError as exc:
        raise MissingDependency("boto3", "aws") from exc
    config = Config(
        connect_timeout=5,
        read_timeout=MAX_WAIT + 15,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    with translate_errors(endpoint_url or "sqs", "create the SQS client"):
        return boto3.client("sqs", endpoint_url=endpoint_url, region_name=region, config=config)


@contextmanager
def translate_errors(queue: str, what: str) -> Iterator[None]:
    """boto3/botocore errors raised inside as `QueueError`s naming `queue`."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    unreachable = (
        EndpointConnectionError,
        ConnectTimeoutError,
        ReadTimeoutError,
        ConnectionClosedError,
    )
    try:
        yield
    except ClientError as exc:
        raise _client_error(queue, what, exc) from exc
    except unreachable as exc:
        raise QueueUnavailable(queue, f"{what}: SQS unreachable ({exc})") from exc
    except BotoCoreError as exc:
        raise QueueError(queue, f"{what}: {exc}") from exc


def _client_error(queue: str, what: str, exc: Any) -> QueueError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "error"))
    detail = str(error.get("Message") or "").strip()
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    reason = f"{what}: SQS says {code}" + (f" ({detail})" if detail else "")
    if code in _NOT_FOUND:
        return QueueNotFound(queue, f"{what}: the queue does not exist")
    if code in _TRANSIENT or status >= 500:
        return QueueUnavailable(queue, reason)
    return QueueError(queue, reason)


def ensure_queue(
    name: str,
    *,
    fifo: bool | None = None,
    dlq_name: str | None = None,
    max_receives: int | None = DEFAULT_MAX_RECEIVES,
    visibility_timeout: float = DEFAULT_VISIBILITY,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> str:
    """Create the SQS queue `name` if needed, with its settings; returns its URL. Idempotent:
    an existing queue gets the given settings.

    `fifo` must agree with the name (a FIFO queue's name ends in `.fifo`; None: from the name).
    With `max_receives` (None: no redrive) a dead-letter queue `dlq_name` (default
    `<name>-dlq`, FIFO like the queue) is created too, and the queue's `RedrivePolicy` moves a
    message there when it comes back after `max_receives` receives.
    """
    check_name(name)
    fifo = name.endswith(".fifo") if fifo is None else fifo
    if fifo != name.endswith(".fifo"):
        raise ConfigError(f"queue {name!r}: a queue is FIFO exactly when its name ends in .fifo")
    client = sqs_client(endpoint_url, region)
    try:
        base = {"FifoQueue": "true"} if fifo else {}
        attributes = {**base, "VisibilityTimeout": str(_whole_seconds(visibility_timeout))}
        if max_receives:
            target = check_name(dlq_name or dlq_name_for(name))
            dlq_url = _create(client, target, base)
            attributes["RedrivePolicy"] = _redrive_policy(client, dlq_url, max_receives)
        else:
            attributes["RedrivePolicy"] = ""
        return _create(client, name, attributes)
    finally:
        client.close()


def _create(client: Any, name: str, attributes: dict[str, str]) -> str:
    from botocore.exceptions import ClientError

    where = f"sqs:{name}"
    create = {key: value for key, value in attributes.items() if value}
    try:
        with translate_errors(where, "create the queue"):
            return str(client.create_queue(QueueName=name, Attributes=create)["QueueUrl"])
    except QueueError as exc:
        cause = exc.__cause__
        if not isinstance(cause, ClientError) or cause.response["Error"]["Code"] not in _EXISTS:
            raise
    with translate_errors(where, "update the existing queue"):
        url = str(client.get_queue_url(QueueName=name)["QueueUrl"])
        changes = {key: value for key, value in attributes.items() if key != "FifoQueue"}
        client.set_queue_attributes(QueueUrl=url, Attributes=changes)
    return url


def _redrive_policy(client: Any, dlq_url: str, max_receives: int) -> str:
    with translate_errors(_redact(dlq_url), "read the dead-letter queue's ARN"):
        answer = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    arn = answer["Attributes"]["QueueArn"]
    return json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receives)})


def _message(item: dict[str, Any]) -> Message:
    attributes = {str(k): str(v) for k, v in item.get("Attributes", {}).items()}
    return Message(
        id=str(item["MessageId"]),
        body=str(item["Body"]),
        receipt_handle=str(item["ReceiptHandle"]),
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        group_id=attributes.get("MessageGroupId"),
        attributes=attributes,
    )


def _wait_chunk(left: float) -> int:
    """Seconds of one ReceiveMessage long poll for `left` seconds still to wait."""
    return min(MAX_WAIT, max(0, math.ceil(left)))


def _whole_seconds(seconds: float) -> int:
    """SQS takes whole seconds: a fraction is rounded up (0 stays 0)."""
    return max(0, math.ceil(seconds))


def _region(url: str) -> str | None:
    match = _AWS_HOST.search(urlsplit(url).hostname or "")
    return match.group(1) if match else None


def _emulator_endpoint(url: str) -> str | None:
    """`scheme://host:port` of a queue URL not on amazonaws.com (moto, LocalStack, ElasticMQ)."""
    parts = urlsplit(url)
    if not parts.hostname or parts.hostname.endswith((".amazonaws.com", ".amazonaws.com.cn")):
        return None
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _redact(url: str) -> str:
    """`url` without a `user:password@` part."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
