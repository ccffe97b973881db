"""The SNS sink through moto's server on loopback, read back from SQS queues
subscribed to the topic (one with raw delivery, one with SNS's envelope)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.warehouse.destinations.support import context, make_alert
from warehouse.alert import SEVERITIES
from warehouse.delivery import deliver_all
from warehouse.destinations import DeliveryError
from warehouse.destinations.sns import SnsSettings, SnsSink


def sns(arn: str) -> SnsSink:
    return SnsSink(SnsSettings.model_validate({"sns_topic_arn": arn}), context(Path.cwd()))


@dataclass
class Topic:
    arn: str
    raw_queue: str
    enveloped_queue: str
    sqs: Any

    def receive(self, queue: str, expected: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while len(messages) < expected and time.monotonic() < deadline:
            answer = self.sqs.receive_message(
                QueueUrl=queue,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            for message in answer.get("Messages", []):
                messages.append(message)
                self.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return messages


def make_topic(name: str) -> Topic:
    session = boto3.session.Session()
    client = session.client("sns")
    sqs: Any = session.client("sqs")
    fifo = name.endswith(".fifo")
    attributes = {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if fifo else {}
    arn = client.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    queues = []
    for raw in (True, False):
        queue_name = f"{name.removesuffix('.fifo')}-{'raw' if raw else 'env'}"
        queue_name += ".fifo" if fifo else ""
        queue_attributes = {"FifoQueue": "true"} if fifo else {}
        url = sqs.create_queue(QueueName=queue_name, Attributes=queue_attributes)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        client.subscribe(
            TopicArn=arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true" if raw else "false"},
        )
        queues.append(url)
    return Topic(arn, queues[0], queues[1], sqs)


@pytest.fixture
def topic(aws_env: str) -> Topic:
    return make_topic(f"certsight-alerts-{uuid.uuid4().hex[:10]}")


def test_sns_publishes_each_alert_in_batches_of_ten(topic: Topic) -> None:
    alerts = [make_alert(f"k{n:02}", severity=SEVERITIES[n % 4]) for n in range(12)]
    alerts.append(make_alert("long", detector="d" * 150))
    deliver = deliver_all(alerts, [sns(topic.arn)])
    assert deliver.ok, deliver.errors()
    assert deliver.outcome("sns").delivered == tuple(alert.key for alert in alerts)

    raw = topic.receive(topic.raw_queue, len(alerts))
    by_key = {alert.key: alert for alert in alerts}
    assert sorted(json.loads(m["Body"])["key"] for m in raw) == sorted(by_key)
    for message in raw:
        document = json.loads(message["Body"])
        alert = by_key[document["key"]]
        assert document == alert.to_json()
        attributes = message["MessageAttributes"]
        assert attributes["detector"]["StringValue"] == alert.detector
        assert attributes["severity"]["StringValue"] == alert.severity

    enveloped = topic.receive(topic.enveloped_queue, len(alerts))
    subjects = {json.loads(m["Body"])["Subject"] for m in enveloped}
    assert "certsight HIGH: ocsp-flood" in subjects
    long_subject = ("certsight HIGH: " + "d" * 150)[:100]
    assert long_subject in subjects
    assert all(len(subject) <= 100 for subject in subjects)


def test_sns_fifo_topic_gets_group_and_deduplication_ids(aws_env: str) -> None:
    topic = make_topic(f"certsight-alerts-{uuid.uuid4().hex[:10]}.fifo")
    alert = make_alert("f1")
    sink = sns(topic.arn)
    assert sink.fifo
    sink.deliver([alert, alert])  # a retried duplicate
    sns(topic.arn).deliver([alert])
    raw = topic.receive(topic.raw_queue, 1)
    assert [json.loads(m["Body"])["key"] for m in raw] == ["f1"]


def test_sns_too_large_alert_is_reported_and_the_rest_published(topic: Topic) -> None:
    huge = make_alert("huge", evidence={"blob": "x" * 300_000})
    with pytest.raises(DeliveryError, match=r"huge: message of \d+ bytes exceeds") as caught:
        sns(topic.arn).deliver([make_alert("small"), huge])
    assert caught.value.delivered == ("small",)
    assert [json.loads(m["Body"])["key"] for m in topic.receive(topic.raw_queue, 1)] == ["small"]


def test_sns_missing_topic_is_a_delivery_error(aws_env: str) -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:certsight-no-such-topic"
    report = deliver_all([make_alert("a"), make_alert("b")], [sns(arn)])
    outcome = report.outcome("sns")
    assert outcome.failed == ("a", "b")
    assert "NotFound" in outcome.errors[0]
    assert "2 alerts not published" in outcome.errors[0]
