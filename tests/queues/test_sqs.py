"""The SQS backend on its own: errors, `ensure_queue`, URL handling, long waits."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from strata.errors import ConfigError, MissingDependency, TransientError
from strata.queues import (
    QueueError,
    QueueNotFound,
    QueueUnavailable,
    SQSQueue,
    ensure_queue,
    open_queue,
)
from strata.queues.sqs import _client_error, _wait_chunk
from tests.conftest import free_port


def test_missing_queue_names_the_url(aws_env: str, tmp_path: Path) -> None:
    url = f"{aws_env}/123456789012/no-such-queue"
    queue = open_queue(url, state_dir=tmp_path)
    with pytest.raises(QueueNotFound, match="no-such-queue") as caught:
        queue.send("x")
    assert caught.value.queue == url
    assert isinstance(caught.value, ConfigError)
    with pytest.raises(QueueNotFound):
        queue.receive(wait_seconds=0)


def test_endpoint_down_is_transient_and_names_the_url(aws_env: str, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/123456789012/orders"
    queue = open_queue(url, state_dir=tmp_path)
    with pytest.raises(QueueUnavailable) as caught:
        queue.send("x")
    assert isinstance(caught.value, TransientError)
    assert url in str(caught.value)
    assert "testing" not in str(caught.value)  # the secret key of aws_env


def test_client_errors_are_classified() -> None:
    def error(code: str, status: int) -> ClientError:
        body = {
            "Error": {"Code": code, "Message": "no"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return ClientError(body, "SendMessage")

    denied = _client_error("q", "send", error("AccessDenied", 403))
    assert type(denied) is QueueError
    assert str(denied) == "queue q: send: SQS says AccessDenied (no)"
    assert isinstance(_client_error("q", "send", error("Throttling", 400)), QueueUnavailable)
    assert isinstance(_client_error("q", "send", error("Whatever", 503)), QueueUnavailable)
    missing = _client_error("q", "send", error("AWS.SimpleQueueService.NonExistentQueue", 400))
    assert isinstance(missing, QueueNotFound)


def test_ensure_queue_is_idempotent_and_sets_the_redrive_policy(aws_env: str) -> None:
    url = ensure_queue("orders.fifo", max_receives=4, visibility_timeout=10, endpoint_url=aws_env)
    again = ensure_queue("orders.fifo", max_receives=7, visibility_timeout=20, endpoint_url=aws_env)
    assert again == url
    client = boto3.client("sqs", endpoint_url=aws_env)
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true"
    assert attributes["VisibilityTimeout"] == "20"
    policy = json.loads(attributes["RedrivePolicy"])
    assert int(policy["maxReceiveCount"]) == 7
    assert policy["deadLetterTargetArn"].endswith(":orders-dlq.fifo")

    ensure_queue("orders.fifo", max_receives=None, endpoint_url=aws_env)
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert "RedrivePolicy" not in attributes
    client.close()


def test_ensure_queue_checks_the_fifo_flag(aws_env: str) -> None:
    with pytest.raises(ConfigError, match=r"\.fifo"):
        ensure_queue("orders", fifo=True, endpoint_url=aws_env)


def test_queue_urls_choose_endpoint_and_region(tmp_path: Path) -> None:
    aws = open_queue(
        "https://sqs.eu-west-1.amazonaws.com/123456789012/gold.fifo", state_dir=tmp_path
    )
    assert isinstance(aws, SQSQueue)
    assert (aws.name, aws.fifo) == ("gold.fifo", True)
    assert aws._client.meta.region_name == "eu-west-1"
    aws.close()
    local = open_queue(
        "http://127.0.0.1:4566/000000000000/gold", state_dir=tmp_path, region="us-east-1"
    )
    assert isinstance(local, SQSQueue)
    assert local._client.meta.endpoint_url == "http://127.0.0.1:4566"
    local.close()


def test_missing_boto3_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingDependency, match=r"strata\[aws\]"):
        open_queue("https://sqs.eu-west-1.amazonaws.com/123456789012/gold", state_dir=tmp_path)


class _SlowlyFilling:
    """A stand-in client: empty long polls until the third call."""

    def __init__(self) -> None:
        self.waits: list[int] = []

    def receive_message(self, **params: Any) -> dict[str, Any]:
        self.waits.append(params["WaitTimeSeconds"])
        if len(self.waits) < 3:
            return {}
        item = {"MessageId": "1", "Body": "b", "ReceiptHandle": "r", "Attributes": {}}
        return {"Messages": [item]}


def test_waits_over_twenty_seconds_loop_in_chunks() -> None:
    client = _SlowlyFilling()
    queue = SQSQueue("https://sqs.eu-west-1.amazonaws.com/1/q", client=client)
    [message] = queue.receive(wait_seconds=50)
    assert message.receive_count == 1
    assert client.waits[0] == 20
    assert all(0 < wait <= 20 for wait in client.waits)
    assert [_wait_chunk(s) for s in (0, -1, 0.2, 5.5, 20, 45)] == [0, 0, 1, 6, 20, 20]
