"""Alert delivery against real receivers: a local HTTP server, files, moto's SNS and SQS.

The webhook receiver is ``http.server`` on a free loopback port that answers from
a script (503s, 429s, 400s, slow answers, redirects), so retries, backoff and the
refusals that must not be retried go through urllib and real sockets. SNS is
read back through SQS queues subscribed to the topic. Backoff delays are tiny
and recorded by the injected sleep (which still sleeps), never asserted as times.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import free_port
from warehouse.alert import SEVERITIES, Alert, at_least
from warehouse.delivery import (
    DeliveryConfigError,
    DeliveryError,
    JsonLinesSink,
    Sink,
    SnsSink,
    WebhookSink,
    deliver_all,
    idempotency_key,
    load_sinks,
    redact_url,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_alert(
    key: str,
    *,
    severity: str = "high",
    detector: str = "ocsp-flood",
    evidence: dict[str, Any] | None = None,
    count: int = 3,
    last_seen: datetime | None = None,
) -> Alert:
    return Alert(
        key=key,
        detector=detector,
        severity=severity,
        first_seen=T0,
        last_seen=last_seen or T0 + timedelta(minutes=5),
        client_ip="198.51.100.7",
        server="ocsp.example.test",
        serial="0a1b2c",
        issuer="issuing-ca",
        count=count,
        evidence={"requests": 1200, "window_s": 60} if evidence is None else evidence,
    )


class Sleeps:
    """The webhook's sleep: records what was asked, then really sleeps (tiny delays)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(seconds)


# -- a scripted HTTP receiver ----------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok": true}'
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def alerts(self) -> list[dict[str, Any]]:
        document: dict[str, Any] = json.loads(self.body)
        alerts: list[dict[str, Any]] = document["alerts"]
        return alerts


class Receiver:
    """Answers requests from ``script`` in order, then with ``then`` for ever."""

    def __init__(self, script: Sequence[Reply] = (), then: Reply | None = None) -> None:
        self.script = list(script)
        self.then = then or Reply()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    reply = receiver.script.pop(0) if receiver.script else receiver.then
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/certsight"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours *_proxy variables; the receivers are on loopback."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def start(receivers: list[Receiver], *script: Reply, then: Reply | None = None) -> Receiver:
    receiver = Receiver(script, then)
    receivers.append(receiver)
    return receiver


def webhook(url: str, sleeps: Sleeps | None = None, **options: Any) -> WebhookSink:
    settings: dict[str, Any] = {"retries": 4, "backoff": 0.01, "backoff_max": 0.2, "timeout": 2.0}
    settings.update(options)
    return WebhookSink(url, sleep=sleeps or Sleeps(), **settings)


# -- Alert ---------------------------------------------------------------------------------


def test_alert_json_shape_utc_and_round_trip() -> None:
    paris = timezone(timedelta(hours=1))
    alert = Alert(
        key="k1",
        detector="responder-errors",
        severity="critical",
        first_seen=datetime(2025, 3, 1, 13, 0, tzinfo=paris),
        last_seen=datetime(2025, 3, 1, 13, 30, 0, 250_000, tzinfo=paris),
        client_ip=None,
        server="ocsp.example.test",
        serial=None,
        issuer="issuing-ca",
        count=7,
        evidence={"ratio": Decimal("0.25"), "total": Decimal(40), "codes": {503, 500}},
    )
    document = alert.to_json()
    assert document == {
        "key": "k1",
        "detector": "responder-errors",
        "severity": "critical",
        "first_seen": "2025-03-01T12:00:00Z",
        "last_seen": "2025-03-01T12:30:00.250000Z",
        "client_ip": None,
        "server": "ocsp.example.test",
        "serial": None,
        "issuer": "issuing-ca",
        "count": 7,
        "evidence": {"ratio": 0.25, "total": 40, "codes": [500, 503]},
    }
    json.dumps(document)  # plain JSON types only
    assert alert.first_seen.tzinfo is UTC
    back = Alert.from_json(document)
    assert back.to_json() == document
    assert back.first_seen == alert.first_seen


def test_alert_refuses_naive_times_unknown_severity_and_bad_order() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Alert("k", "d", "high", datetime(2025, 1, 1), T0, None, None, None, None, 1, {})
    with pytest.raises(ValueError, match="unknown severity 'urgent'"):
        make_alert("k", severity="urgent")
    with pytest.raises(ValueError, match="before first_seen"):
        make_alert("k", last_seen=T0 - timedelta(seconds=1))
    assert at_least("critical", "medium")
    assert not at_least("low", "medium")
    assert hash(make_alert("k")) == hash(make_alert("k"))


# -- JSON-lines file ------------------------------------------------------------------------


def test_jsonl_appends_one_object_per_alert_creating_folders(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "alerts.jsonl"
    sink = JsonLinesSink(path)
    sink.deliver([make_alert("a"), make_alert("b")])
    sink.deliver([make_alert("c", severity="low")])
    lines = path.read_bytes().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "c"]
    assert json.loads(lines[0]) == make_alert("a").to_json()


def test_jsonl_closes_a_torn_last_line_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(b'{"key": "whole"}\n{"key": "torn')  # a crash mid-line
    JsonLinesSink(path).deliver([make_alert("next")])
    lines = path.read_text().splitlines()
    assert lines[-2] == '{"key": "torn'
    assert json.loads(lines[-1])["key"] == "next"


def test_jsonl_reports_the_alert_it_cannot_encode_and_writes_the_others(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    good, bad = make_alert("good"), make_alert("bad", evidence={"thing": object()})
    report = deliver_all([good, bad], [JsonLinesSink(path)])
    outcome = report.outcome("jsonl")
    assert outcome.delivered == ("good",)
    assert outcome.failed == ("bad",)
    assert "bad: cannot encode" in outcome.errors[0]
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == ["good"]


def test_jsonl_unwritable_path_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DeliveryError, match="cannot append") as caught:
        JsonLinesSink(blocker / "alerts.jsonl").deliver([make_alert("a")])
    assert caught.value.delivered == ()


# -- webhook --------------------------------------------------------------------------------


def test_webhook_posts_batches_with_token_and_stable_idempotency_keys(
    receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTSIGHT_TEST_HOOK_TOKEN", "tok-123")
    receiver = start(receivers)
    alerts = [make_alert(f"k{n}") for n in (4, 2, 0, 3, 1)]
    sink = webhook(receiver.url, token_env="CERTSIGHT_TEST_HOOK_TOKEN", batch_size=2)
    sink.deliver(alerts)

    assert len(receiver.requests) == 3
    batches = [[a["key"] for a in request.alerts] for request in receiver.requests]
    assert batches == [["k0", "k1"], ["k2", "k3"], ["k4"]]  # sorted: same alerts, same batches
    first = receiver.requests[0]
    assert first.path == "/hooks/certsight"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Authorization"] == "Bearer tok-123"
    assert first.alerts[0] == make_alert("k0").to_json()
    by_key = {alert.key: alert for alert in alerts}
    for request, keys in zip(receiver.requests, batches, strict=True):
        assert request.headers["Idempotency-Key"] == idempotency_key(by_key[k] for k in keys)

    sink.deliver(list(reversed(alerts)))  # the same alerts again, in another order
    again = [request.headers["Idempotency-Key"] for request in receiver.requests[3:]]
    assert again == [request.headers["Idempotency-Key"] for request in receiver.requests[:3]]


def test_idempotency_key_changes_when_an_alert_progresses() -> None:
    before = make_alert("k", count=3)
    later = make_alert("k", count=9, last_seen=T0 + timedelta(hours=1))
    assert idempotency_key([before]) == idempotency_key([make_alert("k", count=3)])
    assert idempotency_key([before]) != idempotency_key([later])


@pytest.mark.parametrize("status", [503, 500, 429])
def test_webhook_retries_transient_answers_with_exponential_backoff(
    receivers: list[Receiver], status: int
) -> None:
    receiver = start(receivers, Reply(status), Reply(status), Reply(status))
    sleeps = Sleeps()
    webhook(receiver.url, sleeps).deliver([make_alert("a"), make_alert("b")])
    assert len(receiver.requests) == 4
    assert sleeps.delays == [0.01, 0.02, 0.04]
    bodies = {request.body for request in receiver.requests}
    keys = {request.headers["Idempotency-Key"] for request in receiver.requests}
    assert len(bodies) == 1
    assert len(keys) == 1


def test_webhook_backoff_is_capped(receivers: list[Receiver]) -> None:
    receiver = start(receivers, *[Reply(503)] * 4)
    sleeps = Sleeps()
    webhook(receiver.url, sleeps, backoff=0.01, backoff_max=0.03).deliver([make_alert("a")])
    assert sleeps.delays == [0.01, 0.02, 0.03, 0.03]


def test_webhook_honours_retry_after(receivers: list[Receiver]) -> None:
    receiver = start(receivers, Reply(429, {"Retry-After": "1"}))
    sleeps = Sleeps()
    webhook(receiver.url, sleeps, backoff_max=2.0).deliver([make_alert("a")])
    assert len(receiver.requests) == 2
    assert sleeps.delays == [1.0]  # longer than the 0.01 s backoff: the receiver's wish


def test_webhook_reads_retry_after_as_an_http_date(receivers: list[Receiver]) -> None:
    past = "Wed, 21 Oct 2015 07:28:00 GMT"  # already due: the backoff alone applies
    receiver = start(receivers, Reply(503, {"Retry-After": past}))
    sleeps = Sleeps()
    webhook(receiver.url, sleeps).deliver([make_alert("a")])
    assert len(receiver.requests) == 2
    assert sleeps.delays == [0.01]


def test_webhook_gives_up_when_retry_after_exceeds_the_cap(receivers: list[Receiver]) -> None:
    receiver = start(receivers, then=Reply(429, {"Retry-After": "120"}))
    sleeps = Sleeps()
    with pytest.raises(DeliveryError, match="retry after 120 s") as caught:
        webhook(receiver.url, sleeps).deliver([make_alert("a")])
    assert len(receiver.requests) == 1
    assert sleeps.delays == []
    assert caught.value.delivered == ()


def test_webhook_reports_exhausted_retries(receivers: list[Receiver]) -> None:
    receiver = start(receivers, then=Reply(503, body=b"maintenance"))
    sleeps = Sleeps()
    with pytest.raises(DeliveryError) as caught:
        webhook(receiver.url, sleeps, retries=2, batch_size=1).deliver(
            [make_alert("a"), make_alert("b")]
        )
    assert len(receiver.requests) == 3  # first batch only: the receiver is down for all
    assert len(sleeps.delays) == 2
    message = caught.value.message
    assert "HTTP 503 Service Unavailable: maintenance (3 attempts)" in message
    assert "1 alerts in later batches not attempted" in message


def test_webhook_400_is_not_retried_and_reported(receivers: list[Receiver]) -> None:
    receiver = start(receivers, then=Reply(400, body=b'{"error": "unknown field evidence"}'))
    sleeps = Sleeps()
    with pytest.raises(DeliveryError, match="HTTP 400 Bad Request") as caught:
        webhook(receiver.url, sleeps).deliver([make_alert("a")])
    assert len(receiver.requests) == 1
    assert sleeps.delays == []
    assert "unknown field evidence" in caught.value.message


def test_webhook_goes_on_after_a_batch_specific_refusal(receivers: list[Receiver]) -> None:
    receiver = start(receivers, Reply(422, body=b"bad batch"))
    with pytest.raises(DeliveryError, match="batch 1/3") as caught:
        webhook(receiver.url, batch_size=1).deliver([make_alert(k) for k in "abc"])
    assert len(receiver.requests) == 3
    assert caught.value.delivered == ("b", "c")


def test_webhook_stops_after_a_configuration_refusal(receivers: list[Receiver]) -> None:
    receiver = start(receivers, then=Reply(401, body=b"who are you"))
    with pytest.raises(DeliveryError, match="HTTP 401") as caught:
        webhook(receiver.url, batch_size=1).deliver([make_alert(k) for k in "abc"])
    assert len(receiver.requests) == 1
    assert "2 alerts in later batches not attempted" in caught.value.message


def test_webhook_does_not_follow_redirects(receivers: list[Receiver]) -> None:
    elsewhere = start(receivers)
    receiver = start(receivers, then=Reply(302, {"Location": elsewhere.url}))
    with pytest.raises(DeliveryError, match="redirects are not followed"):
        webhook(receiver.url).deliver([make_alert("a")])
    assert len(receiver.requests) == 1
    assert elsewhere.requests == []


def test_webhook_connection_refused_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    sleeps = Sleeps()
    with pytest.raises(DeliveryError, match="cannot connect: Connection refused"):
        webhook(url, sleeps, retries=2).deliver([make_alert("a")])
    assert sleeps.delays == [0.01, 0.02]


def test_webhook_timeout_is_retried(receivers: list[Receiver]) -> None:
    receiver = start(receivers, Reply(200, delay=1.0))
    sleeps = Sleeps()
    webhook(receiver.url, sleeps, timeout=0.2).deliver([make_alert("a")])
    assert len(receiver.requests) == 2
    assert len(sleeps.delays) == 1


def test_webhook_without_its_token_variable_fails_naming_it(
    receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CERTSIGHT_TEST_UNSET_TOKEN", raising=False)
    receiver = start(receivers)
    with pytest.raises(DeliveryError, match="CERTSIGHT_TEST_UNSET_TOKEN"):
        webhook(receiver.url, token_env="CERTSIGHT_TEST_UNSET_TOKEN").deliver([make_alert("a")])
    assert receiver.requests == []


def test_secrets_never_reach_logs_errors_or_reprs(
    receivers: list[Receiver],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    token, signature = "tok-s3cr3t-value", "sig-t0ps3cret"
    monkeypatch.setenv("CERTSIGHT_TEST_HOOK_TOKEN", token)
    receiver = start(
        receivers,
        Reply(503, body=f"overloaded, token {token}".encode()),
        Reply(429, {"Retry-After": "0"}),
        then=Reply(400, body=f"rejected {token} for ?sig={signature}".encode()),
    )
    url = f"{receiver.url}?sig={signature}&v=1"
    config = {
        "alerts": {
            "jsonl": "alerts.jsonl",
            "webhook_url": url,
            "webhook_token_env": "CERTSIGHT_TEST_HOOK_TOKEN",
            "webhook_backoff": 0.01,
            "webhook_backoff_max": 0.05,
        }
    }
    caplog.set_level(logging.DEBUG)
    sinks = load_sinks(tmp_path, config)
    report = deliver_all([make_alert("a")], sinks)

    assert receiver.requests[0].headers["Authorization"] == f"Bearer {token}"
    assert receiver.requests[0].path.endswith(f"?sig={signature}&v=1")
    assert len(receiver.requests) == 3
    assert report.outcome("jsonl").delivered == ("a",)
    assert report.outcome("webhook").failed == ("a",)
    texts = [
        caplog.text,
        *report.outcome("webhook").errors,
        repr(sinks),
        str(report),
    ]
    assert "retry 1 of 4" in caplog.text
    assert "HTTP 400" in report.outcome("webhook").errors[0]
    for text in texts:
        assert token not in text
        assert signature not in text
    assert redact_url(url) == f"{receiver.url}?..."
    assert (
        redact_url("https://user:pw@siem.example:8443/h?x=1") == "https://siem.example:8443/h?..."
    )


# -- deliver_all and severities --------------------------------------------------------------


class BrokenSink:
    """A third-party sink with a bug: must not keep alerts from the other sinks."""

    name = "broken"

    def deliver(self, alerts: Sequence[Alert]) -> None:
        raise RuntimeError("bug in a sink")


def test_deliver_all_isolates_failing_sinks_and_filters_by_severity(
    receivers: list[Receiver], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = start(receivers, then=Reply(400))
    alerts = [
        make_alert("low1", severity="low"),
        make_alert("med1", severity="medium"),
        make_alert("crit1", severity="critical"),
    ]
    jsonl = JsonLinesSink(tmp_path / "alerts.jsonl", min_severity="medium")
    sinks: list[Sink] = [BrokenSink(), webhook(receiver.url, min_severity="critical"), jsonl]
    report = deliver_all(alerts, sinks)

    assert not report.ok
    broken = report.outcome("broken")
    assert broken.failed == ("low1", "med1", "crit1")
    assert broken.errors == ("unexpected RuntimeError: bug in a sink",)
    hook = report.outcome("webhook")
    assert (hook.delivered, hook.failed, hook.skipped) == ((), ("crit1",), ("low1", "med1"))
    assert report.outcome("jsonl").delivered == ("med1", "crit1")
    assert report.outcome("jsonl").skipped == ("low1",)
    assert report.outcome("jsonl").ok
    assert report.pending() == {"broken": ("low1", "med1", "crit1"), "webhook": ("crit1",)}
    assert report.settled() == frozenset()
    assert [a["key"] for a in receiver.requests[0].alerts] == ["crit1"]
    assert "bug in a sink" in caplog.text


def test_deliver_all_settles_what_no_sink_owes(tmp_path: Path) -> None:
    sinks = [JsonLinesSink(tmp_path / "a.jsonl"), JsonLinesSink(tmp_path / "b.jsonl", name="b")]
    report = deliver_all([make_alert("x"), make_alert("y", severity="critical")], sinks)
    assert report.ok
    assert report.settled() == {"x", "y"}
    assert report.pending() == {}
    assert deliver_all([], sinks).ok


# -- SNS through moto's server, read back from SQS ------------------------------------------


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
    sns = session.client("sns")
    sqs: Any = session.client("sqs")
    fifo = name.endswith(".fifo")
    attributes = {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if fifo else {}
    arn = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    queues = []
    for raw in (True, False):
        queue_name = f"{name.removesuffix('.fifo')}-{'raw' if raw else 'env'}"
        queue_name += ".fifo" if fifo else ""
        queue_attributes = {"FifoQueue": "true"} if fifo else {}
        url = sqs.create_queue(QueueName=queue_name, Attributes=queue_attributes)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
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
    deliver = deliver_all(alerts, [SnsSink(topic.arn)])
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
    SnsSink(topic.arn).deliver([alert, alert])  # a retried duplicate
    SnsSink(topic.arn).deliver([alert])
    raw = topic.receive(topic.raw_queue, 1)
    assert [json.loads(m["Body"])["key"] for m in raw] == ["f1"]


def test_sns_too_large_alert_is_reported_and_the_rest_published(topic: Topic) -> None:
    huge = make_alert("huge", evidence={"blob": "x" * 300_000})
    with pytest.raises(DeliveryError, match=r"huge: message of \d+ bytes exceeds") as caught:
        SnsSink(topic.arn).deliver([make_alert("small"), huge])
    assert caught.value.delivered == ("small",)
    assert [json.loads(m["Body"])["key"] for m in topic.receive(topic.raw_queue, 1)] == ["small"]


def test_sns_missing_topic_is_a_delivery_error(aws_env: str) -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:certsight-no-such-topic"
    report = deliver_all([make_alert("a"), make_alert("b")], [SnsSink(arn)])
    outcome = report.outcome("sns")
    assert outcome.failed == ("a", "b")
    assert "NotFound" in outcome.errors[0]
    assert "2 alerts not published" in outcome.errors[0]


# -- settings ----------------------------------------------------------------------------------


def test_load_sinks_reads_certsight_toml(tmp_path: Path) -> None:
    (tmp_path / "certsight.toml").write_text(
        """
[alerts]
min_severity = "medium"
jsonl = "out/alerts.jsonl"
webhook_url = "https://siem.example/hooks/certsight"
webhook_token_env = "CERTSIGHT_WEBHOOK_TOKEN"
webhook_timeout = 5
webhook_retries = 4
webhook_backoff = 0.5
webhook_backoff_max = 30
webhook_batch_size = 50
sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:certsight-alerts"
sns_min_severity = "critical"
"""
    )
    jsonl, hook, sns = load_sinks(tmp_path)
    assert isinstance(jsonl, JsonLinesSink)
    assert jsonl.path == tmp_path / "out" / "alerts.jsonl"
    assert jsonl.min_severity == "medium"
    assert isinstance(hook, WebhookSink)
    assert (hook.timeout, hook.retries, hook.backoff, hook.backoff_max) == (5.0, 4, 0.5, 30.0)
    assert (hook.batch_size, hook.min_severity, hook.token_env) == (
        50,
        "medium",
        "CERTSIGHT_WEBHOOK_TOKEN",
    )
    assert isinstance(sns, SnsSink)
    assert (sns.region, sns.min_severity, sns.fifo) == ("eu-west-1", "critical", False)


def test_load_sinks_defaults_and_absences(tmp_path: Path) -> None:
    assert load_sinks(tmp_path) == []  # no file
    (tmp_path / "certsight.toml").write_text("[other]\nx = 1\n")
    assert load_sinks(tmp_path) == []
    absolute = tmp_path / "abs.jsonl"
    (sink,) = load_sinks(tmp_path, {"alerts": {"jsonl": str(absolute)}})
    assert isinstance(sink, JsonLinesSink)
    assert (sink.path, sink.min_severity) == (absolute, "low")
    (hook,) = load_sinks(tmp_path, {"alerts": {"webhook_url": "http://10.0.0.1/h"}})
    assert isinstance(hook, WebhookSink)
    assert (hook.timeout, hook.retries, hook.batch_size, hook.token_env) == (5.0, 4, 100, None)


def test_load_sinks_reports_invalid_toml(tmp_path: Path) -> None:
    (tmp_path / "certsight.toml").write_text("[alerts]\nwebhook_url = \n")
    with pytest.raises(DeliveryConfigError, match="not valid TOML") as caught:
        load_sinks(tmp_path)
    assert caught.value.key is None


@pytest.mark.parametrize(
    ("alerts", "key", "problem"),
    [
        ("oops", "alerts", "must be a table"),
        ({"min_severity": "urgent"}, "alerts.min_severity", "'urgent' is not one of"),
        ({"jsonl": ""}, "alerts.jsonl", "non-empty string"),
        ({"jsonl": 3}, "alerts.jsonl", "non-empty string"),
        ({"jsonl_min_severity": "high"}, "alerts.jsonl_min_severity", "without jsonl"),
        ({"webhook_retries": 3}, "alerts.webhook_retries", "without webhook_url"),
        ({"webhook_url": "ftp://x/y"}, "alerts.webhook_url", "http:// or https://"),
        ({"webhook_url": "https:///nohost"}, "alerts.webhook_url", "has no host"),
        ({"webhook_url": "https://x:99999/"}, "alerts.webhook_url", "not a valid URL"),
        (
            {"webhook_url": "https://x/", "webhook_retries": True},
            "alerts.webhook_retries",
            "integer",
        ),
        ({"webhook_url": "https://x/", "webhook_retries": -1}, "alerts.webhook_retries", "between"),
        ({"webhook_url": "https://x/", "webhook_timeout": 0}, "alerts.webhook_timeout", "> 0"),
        (
            {"webhook_url": "https://x/", "webhook_timeout": "5s"},
            "alerts.webhook_timeout",
            "number",
        ),
        (
            {"webhook_url": "https://x/", "webhook_batch_size": 0},
            "alerts.webhook_batch_size",
            "between",
        ),
        (
            {"webhook_url": "https://x/", "webhook_backoff": 2, "webhook_backoff_max": 1},
            "alerts.webhook_backoff_max",
            ">= webhook_backoff",
        ),
        (
            {"webhook_url": "http://siem.example/h", "webhook_token_env": "TOKEN"},
            "alerts.webhook_url",
            "must be https://",
        ),
        ({"sns_topic_arn": "arn:aws:sqs:us-east-1:1:q"}, "alerts.sns_topic_arn", "not an SNS"),
        ({"sns_min_severity": "low"}, "alerts.sns_min_severity", "without sns_topic_arn"),
        ({"webhook_urll": "https://x/"}, "alerts.webhook_urll", "unknown key; known keys"),
    ],
)
def test_load_sinks_names_the_offending_key(
    tmp_path: Path, alerts: object, key: str, problem: str
) -> None:
    with pytest.raises(DeliveryConfigError) as caught:
        load_sinks(tmp_path, {"alerts": alerts})
    assert caught.value.key == key
    assert problem in str(caught.value)
    assert str(caught.value).startswith(f"certsight.toml: {key}: ")


@pytest.mark.parametrize(
    "alerts",
    [
        {"webhook_url": "ftp://siem.example/h?sig=hush-hush-42"},
        {"webhook_url": "https://admin:hush-hush-42@siem.example/h"},
        {"webhook_url": "https://x/", "webhook_token_env": "hush-hush-42"},
        {"webhook_url": "https://x/", "webhook_token": "hush-hush-42"},
    ],
)
def test_config_errors_do_not_repeat_secrets(tmp_path: Path, alerts: dict[str, str]) -> None:
    with pytest.raises(DeliveryConfigError) as caught:
        load_sinks(tmp_path, {"alerts": alerts})
    assert "hush-hush-42" not in str(caught.value)
    assert caught.value.key is not None
