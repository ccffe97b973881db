"""An open alert that escalates (same key, higher severity) is owed again: to a sink that
let it pass as below its ``min_severity``, and to one that had it at the lower severity.
De-escalation sends nothing; an outbox of the previous format is upgraded without sending
anything again. Real SQLite files, a real `certsight build` and a webhook receiver on
127.0.0.1; nothing mocked."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest

from tests.warehouse.conftest import Scenario
from tests.warehouse.destinations.support import make_alert
from tests.warehouse.test_alert_outbox import Hook, build, configure, hook, journal_keys
from warehouse.alert import Alert, at_least
from warehouse.destinations.webhook import idempotency_key
from warehouse.outbox import Outbox

__all__ = ["hook"]  # the receiver fixture, shared with the outbox's end-to-end tests

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


def settle(outbox: Outbox, sink: str, minimum: str, at: datetime) -> list[Alert]:
    """What the build does for one sink: claim, send those at ``minimum`` or above, and
    acknowledge them with the ones below it (settled, not sent). Returns those sent."""
    sent: list[Alert] = []
    for attempt in outbox.claim(sink):
        sent.extend(alert for alert in attempt.alerts if at_least(alert.severity, minimum))
        outbox.acknowledge(sink, [alert.key for alert in attempt.alerts], at)
    return sent


def severities(alerts: Sequence[Alert]) -> list[tuple[str, str]]:
    return [(alert.key, alert.severity) for alert in alerts]


def test_an_escalated_alert_reaches_the_high_only_sink_and_the_one_that_had_it(
    tmp_path: Path,
) -> None:
    with Outbox.open(tmp_path / "outbox.sqlite") as outbox:
        outbox.enqueue(["file", "pager"], [make_alert("k", severity="medium")], NOW)
        assert severities(settle(outbox, "file", "low", NOW)) == [("k", "medium")]
        assert settle(outbox, "pager", "high", NOW) == []  # skipped: below its minimum

        outbox.enqueue(["file", "pager"], [make_alert("k", severity="high")], LATER)
        assert severities(settle(outbox, "file", "low", LATER)) == [("k", "high")]
        assert severities(settle(outbox, "pager", "high", LATER)) == [("k", "high")]

        outbox.enqueue(["file", "pager"], [make_alert("k", severity="high")], LATER)
        assert outbox.claim("file") == [] and outbox.claim("pager") == []


def test_de_escalation_and_a_return_to_the_settled_severity_send_nothing(
    tmp_path: Path,
) -> None:
    with Outbox.open(tmp_path / "outbox.sqlite") as outbox:
        outbox.enqueue(["file"], [make_alert("k", severity="high")], NOW)
        settle(outbox, "file", "low", NOW)
        for severity in ("medium", "low", "high"):
            outbox.enqueue(["file"], [make_alert("k", severity=severity)], LATER)
            assert outbox.claim("file") == [], severity


def test_an_escalation_unsent_when_it_clears_or_falls_back_is_withdrawn(tmp_path: Path) -> None:
    """A run that stopped between enqueueing an escalation and sending it: if the alert has
    cleared or fallen back to the settled severity by the next run, the sink is owed nothing,
    and the row is settled as before (a later rise is judged against that)."""
    with Outbox.open(tmp_path / "outbox.sqlite") as outbox:
        outbox.enqueue(["file"], [make_alert("k", severity="medium")], NOW)
        settle(outbox, "file", "low", NOW)
        outbox.enqueue(["file"], [make_alert("k", severity="high")], LATER)  # then a crash
        outbox.enqueue(["file"], [make_alert("k", severity="medium")], LATER)
        assert outbox.claim("file") == []
        assert outbox.owed("file") == 0

        outbox.enqueue(["file"], [make_alert("k", severity="high")], LATER)  # then a crash
        outbox.enqueue(["file"], [], LATER)  # cleared
        assert outbox.owed("file") == 0
        outbox.enqueue(["file"], [make_alert("k", severity="medium")], LATER)  # open again
        assert outbox.claim("file") == []  # settled at medium already


def test_an_attempt_lost_before_an_escalation_repeats_exactly_then_the_escalation_follows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox.open(path) as outbox:
        outbox.enqueue(["webhook"], [make_alert("k", severity="medium")], NOW)
        (first,) = outbox.claim("webhook")
    # the process dies after the receiver took the attempt, before its acknowledgement

    with Outbox.open(path) as outbox:
        outbox.enqueue(["webhook"], [make_alert("k", severity="high")], LATER)
        (again,) = outbox.claim("webhook")
        assert again.repeat and again.alerts == first.alerts  # still medium: as first sent
        outbox.acknowledge("webhook", ["k"], LATER)
        outbox.enqueue(["webhook"], [make_alert("k", severity="high")], LATER)
        (escalated,) = outbox.claim("webhook")
        assert not escalated.repeat and escalated.number > first.number
        assert severities(escalated.alerts) == [("k", "high")]
        assert idempotency_key(escalated.alerts) != idempotency_key(first.alerts)


def test_the_idempotency_key_covers_the_severity() -> None:
    """Same key, last_seen and count, higher severity: news, not a repeat to drop."""
    medium = make_alert("k", severity="medium")
    assert idempotency_key([medium]) == idempotency_key([make_alert("k", severity="medium")])
    assert idempotency_key([medium]) != idempotency_key([make_alert("k", severity="high")])


_FORMAT_1 = (
    "create table deliveries (sink text not null, alert_key text not null, payload blob,"
    " enqueued_at text not null, attempt integer, acknowledged_at text,"
    " primary key (sink, alert_key))",
    "create index open_attempts on deliveries (sink, attempt) where acknowledged_at is null",
    "pragma user_version = 1",
)


def test_an_outbox_of_the_previous_format_is_upgraded_without_sending_anything_again(
    tmp_path: Path,
) -> None:
    """Format 1 rows: 'done' acknowledged (no severity recorded), 'lost' sent and never
    acknowledged (its payload frozen at medium), 'owed' never sent."""
    path = tmp_path / "outbox.sqlite"
    frozen = orjson.dumps(make_alert("lost", severity="medium").to_json())
    with sqlite3.connect(path) as con:
        for statement in _FORMAT_1:
            con.execute(statement)
        con.executemany(
            "insert into deliveries values (?, ?, ?, ?, ?, ?)",
            [
                ("file", "done", None, "2026-11-19T09:00:00Z", 1, "2026-11-19T09:00:01Z"),
                ("file", "lost", frozen, "2026-11-19T09:00:00Z", 2, None),
                ("file", "owed", frozen, "2026-11-19T09:00:00Z", None, None),
            ],
        )
    con.close()
    alerts = [make_alert(key, severity="high") for key in ("done", "lost", "owed")]
    with Outbox.open(path) as outbox:
        outbox.enqueue(["file"], alerts, NOW)
        lost, owed = outbox.claim("file")
        assert (
            lost.repeat
            and lost.number == 2
            and lost.alerts == (Alert.from_json(orjson.loads(frozen)),)
        )
        assert severities(owed.alerts) == [("owed", "high")]
        outbox.acknowledge("file", ["lost", "owed"], NOW)

        outbox.enqueue(["file"], alerts, LATER)
        # 'done' was settled before severities were kept: taken as settled at high, its
        # severity when the upgrade first saw it; 'lost' went out at medium and is now high
        (escalated,) = outbox.claim("file")
        assert severities(escalated.alerts) == [("lost", "high")]
    with sqlite3.connect(path) as con:
        (version,) = con.execute("pragma user_version").fetchone()
    con.close()
    assert version == 2


@pytest.mark.slow  # three `certsight build`s, the first a full one (~30 s)
def test_builds_send_an_escalation_once_to_each_sink_and_nothing_on_de_escalation(
    scenario: Scenario, hook: Hook
) -> None:
    """The webhook takes every severity; the JSON-lines file only high and above (a pager).
    The scenario's one medium alert (unknown_issuer) goes to the webhook only; raised to
    high in the live warehouse (what a detector does as a deadline nears), it reaches the
    file once and the webhook once more, with a new Idempotency-Key."""
    home = scenario.home
    journal = home / "out" / "alerts.jsonl"
    configure(home, hook.url, 'jsonl_min_severity = "high"')
    first = build(home)
    assert first.exit_code == 0, first.output
    (medium,) = [a for r in hook.requests for a in r.alerts if a["severity"] == "medium"]
    assert medium["key"] not in journal_keys(journal)
    sent_before, lines_before = len(hook.requests), len(journal_keys(journal))

    set_severity(home, medium["key"], "high")
    second = build(home)
    assert second.exit_code == 0, second.output
    assert journal_keys(journal)[lines_before:] == [medium["key"]]
    (escalated,) = hook.requests[sent_before:]
    assert [(a["key"], a["severity"]) for a in escalated.alerts] == [(medium["key"], "high")]
    earlier = {r.headers["Idempotency-Key"] for r in hook.requests[:sent_before]}
    assert escalated.headers["Idempotency-Key"] not in earlier

    third = build(home)
    assert third.exit_code == 0, third.output
    set_severity(home, medium["key"], "medium")
    fourth = build(home)
    assert fourth.exit_code == 0, fourth.output
    assert len(hook.requests) == sent_before + 1
    assert len(journal_keys(journal)) == lines_before + 1


def set_severity(home: Path, key: str, severity: str) -> None:
    """The live warehouse's alert ``key`` at ``severity``, as a later build would leave it."""
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        con.execute("update alerts set severity = ? where alert_key = ?", [severity, key])
    finally:
        con.close()
