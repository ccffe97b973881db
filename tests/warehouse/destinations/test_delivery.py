"""The orchestration of alert delivery: one alert JSON shape, ``deliver_all``'s batch
semantics across sinks, and the sinks the ``[alerts]`` table configures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from certsight.settings import CertsightSettings, Home
from tests.warehouse.destinations.support import (
    T0,
    Receiver,
    Reply,
    context,
    make_alert,
    start,
    webhook,
)
from warehouse.alert import Alert, at_least
from warehouse.delivery import Sink, deliver_all, load_sinks
from warehouse.destinations import AlertSink, ReportStore
from warehouse.destinations.base import alert_sinks, report_stores
from warehouse.destinations.file import JsonLinesSettings, JsonLinesSink
from warehouse.destinations.sns import SnsSink
from warehouse.destinations.webhook import WebhookSink

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


# -- deliver_all and severities --------------------------------------------------------------


class BrokenSink:
    """A third-party sink with a bug: must not keep alerts from the other sinks."""

    name = "broken"

    def deliver(self, alerts: Sequence[Alert]) -> None:
        raise RuntimeError("bug in a sink")


def jsonl(path: Path, *, name: str | None = None, **keys: str) -> JsonLinesSink:
    settings = JsonLinesSettings.model_validate({"jsonl": str(path), **keys})
    return JsonLinesSink(settings, context(path.parent), name=name)


def test_deliver_all_isolates_failing_sinks_and_filters_by_severity(
    receivers: list[Receiver], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = start(receivers, then=Reply(400))
    alerts = [
        make_alert("low1", severity="low"),
        make_alert("med1", severity="medium"),
        make_alert("crit1", severity="critical"),
    ]
    journal = jsonl(tmp_path / "alerts.jsonl", jsonl_min_severity="medium")
    sinks: list[Sink] = [BrokenSink(), webhook(receiver.url, min_severity="critical"), journal]
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
    sinks = [jsonl(tmp_path / "a.jsonl"), jsonl(tmp_path / "b.jsonl", name="b")]
    report = deliver_all([make_alert("x"), make_alert("y", severity="critical")], sinks)
    assert report.ok
    assert report.settled() == {"x", "y"}
    assert report.pending() == {}
    assert deliver_all([], sinks).ok


# -- the sinks of the [alerts] table ----------------------------------------------------------


def test_every_service_is_registered_under_its_slug() -> None:
    assert set(alert_sinks()) == {"jsonl", "webhook", "sns"}  # the delivery records' names
    assert set(report_stores()) == {"folder", "s3"}
    assert all(issubclass(cls, AlertSink) for cls in alert_sinks().values())
    assert all(issubclass(cls, ReportStore) for cls in report_stores().values())


def test_load_sinks_from_certsight_toml(tmp_path: Path) -> None:
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
    settings = CertsightSettings.load(Home(tmp_path))
    sinks = {sink.name: sink for sink in load_sinks(settings.alerts, context(tmp_path))}
    assert list(sinks) == ["jsonl", "sns", "webhook"]  # slug order
    journal, hook, topic = sinks["jsonl"], sinks["webhook"], sinks["sns"]
    assert isinstance(journal, JsonLinesSink)
    assert journal.path == tmp_path / "out" / "alerts.jsonl"
    assert journal.min_severity == "medium"
    assert isinstance(hook, WebhookSink)
    options = hook.settings
    assert (options.timeout, options.retries, options.backoff, options.backoff_max) == (
        5.0,
        4,
        0.5,
        30.0,
    )
    assert (options.batch_size, hook.min_severity, options.token_env) == (
        50,
        "medium",
        "CERTSIGHT_WEBHOOK_TOKEN",
    )
    assert isinstance(topic, SnsSink)
    assert (topic.region, topic.min_severity, topic.fifo) == ("eu-west-1", "critical", False)


def test_load_sinks_defaults_and_absences(tmp_path: Path) -> None:
    home = Home(tmp_path)
    assert load_sinks(CertsightSettings.load(home).alerts, context(tmp_path)) == []  # no file
    (tmp_path / "certsight.toml").write_text("[reports]\n")
    assert load_sinks(CertsightSettings.load(home).alerts, context(tmp_path)) == []
    absolute = tmp_path / "abs.jsonl"
    settings = CertsightSettings.parse({"alerts": {"jsonl": str(absolute)}})
    (sink,) = load_sinks(settings.alerts, context(tmp_path))
    assert isinstance(sink, JsonLinesSink)
    assert (sink.path, sink.min_severity) == (absolute, "low")
    settings = CertsightSettings.parse({"alerts": {"webhook_url": "http://10.0.0.1/h"}})
    (hook,) = load_sinks(settings.alerts, context(tmp_path))
    assert isinstance(hook, WebhookSink)
    options = hook.settings
    assert (options.timeout, options.retries, options.batch_size, options.token_env) == (
        5.0,
        4,
        100,
        None,
    )
