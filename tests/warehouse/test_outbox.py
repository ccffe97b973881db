"""The alert outbox on a real SQLite file: attempts, lost acknowledgements, withdrawals,
the upgrade from acknowledgements kept in the warehouse, and a file that is not an outbox.
A "crash" here is the outbox closed and opened again with nothing acknowledged: what a
killed process leaves, since every step commits before it returns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.warehouse.destinations.support import T0, make_alert
from warehouse.alert import Alert
from warehouse.alert_rows import deliveries_before_outbox
from warehouse.destinations.webhook import idempotency_key
from warehouse.outbox import Outbox, OutboxError

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def keys(alerts: Sequence[Alert]) -> list[str]:
    return [alert.key for alert in alerts]


def test_an_attempt_whose_answer_was_lost_goes_out_again_exactly_and_apart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite"
    with Outbox.open(path) as outbox:
        outbox.enqueue(["webhook"], [make_alert("k1"), make_alert("k2")], NOW)
        (first,) = outbox.claim("webhook")
        assert keys(first.alerts) == ["k1", "k2"] and not first.repeat
        sent_key = idempotency_key(first.alerts)
    # the process dies here: the receiver has the alerts, the outbox has no answer

    progressed = make_alert("k1", count=9, last_seen=T0 + timedelta(hours=2))
    with Outbox.open(path) as outbox:
        outbox.enqueue(["webhook"], [progressed, make_alert("k2"), make_alert("k3")], NOW)
        again, new = outbox.claim("webhook")
        assert again.repeat and again.number == first.number
        assert again.alerts == first.alerts  # as first sent, not as k1 is now
        assert idempotency_key(again.alerts) == sent_key
        assert keys(new.alerts) == ["k3"] and not new.repeat
        outbox.acknowledge("webhook", ["k1", "k2", "k3"], NOW)
        assert outbox.claim("webhook") == []
        assert outbox.owed("webhook") == 0


def test_a_partly_acknowledged_attempt_keeps_the_rest_together(tmp_path: Path) -> None:
    with Outbox.open(tmp_path / "outbox.sqlite") as outbox:
        outbox.enqueue(["webhook"], [make_alert(f"k{n}") for n in range(4)], NOW)
        (first,) = outbox.claim("webhook")
        outbox.acknowledge("webhook", ["k0", "k1"], NOW)
        (rest,) = outbox.claim("webhook")
        assert rest.number == first.number and rest.repeat
        assert keys(rest.alerts) == ["k2", "k3"]


def test_sinks_are_owed_independently(tmp_path: Path) -> None:
    with Outbox.open(tmp_path / "outbox.sqlite") as outbox:
        outbox.enqueue(["jsonl", "webhook"], [make_alert("a"), make_alert("b")], NOW)
        (to_file,) = outbox.claim("jsonl")
        outbox.acknowledge("jsonl", keys(to_file.alerts), NOW)
        assert outbox.claim("jsonl") == []
        (to_hook,) = outbox.claim("webhook")
        assert keys(to_hook.alerts) == ["a", "b"]
        # a sink configured later is owed every open alert
        outbox.enqueue(["jsonl", "webhook", "sns"], [make_alert("a"), make_alert("b")], NOW)
        assert outbox.claim("jsonl") == []
        (to_sns,) = outbox.claim("sns")
        assert keys(to_sns.alerts) == ["a", "b"]


def test_an_alert_that_cleared_unsent_is_withdrawn_but_one_sent_is_finished(
    tmp_path: Path,
) -> None:
    with Outbox.open(tmp_path / "outbox.sqlite") as outbox:
        outbox.enqueue(["jsonl", "webhook"], [make_alert("sent"), make_alert("unsent")], NOW)
        outbox.claim("webhook")  # sent to the webhook, answer lost
        outbox.enqueue(["jsonl", "webhook"], [], NOW)  # both cleared since
        assert outbox.claim("jsonl") == []
        (again,) = outbox.claim("webhook")
        assert keys(again.alerts) == ["sent", "unsent"] and again.repeat


def test_a_new_outbox_starts_from_the_deliveries_an_older_warehouse_recorded(
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create schema reference")
        con.execute(
            "create table reference.alert_deliveries (alert_key varchar not null,"
            " sink varchar not null, delivered_at timestamptz not null,"
            " primary key (alert_key, sink))"
        )
        con.execute("insert into reference.alert_deliveries values ('a', 'webhook', ?)", [NOW])
        legacy = deliveries_before_outbox(con)
    finally:
        con.close()
    assert legacy == [("a", "webhook", NOW)]
    calls: list[int] = []

    def read_legacy() -> list[tuple[str, str, datetime]]:
        calls.append(1)
        return legacy

    path = tmp_path / "outbox.sqlite"
    with Outbox.open(path, legacy=read_legacy) as outbox:
        outbox.enqueue(["webhook"], [make_alert("a"), make_alert("b")], NOW)
        (attempt,) = outbox.claim("webhook")
        assert keys(attempt.alerts) == ["b"]
    with Outbox.open(path, legacy=read_legacy):
        pass
    assert calls == [1]  # read once, when the outbox was made


def test_a_file_that_is_not_an_outbox_is_named_in_a_precise_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"these bytes are not a SQLite database, whatever the name says" * 20)
    with pytest.raises(OutboxError) as caught:
        Outbox.open(path)
    assert str(path) in str(caught.value)
    assert "not a database" in str(caught.value)


def test_a_delivered_alert_leaves_no_copy_of_its_evidence_behind(tmp_path: Path) -> None:
    """Evidence holds client addresses, which retention ages out of the warehouse: once a
    sink has acknowledged an alert, the outbox keeps only that it did."""
    import sqlite3

    path = tmp_path / "outbox.sqlite"
    with Outbox.open(path) as outbox:
        outbox.enqueue(["file", "webhook"], [make_alert("k1"), make_alert("k2")], NOW)
        outbox.claim("file")
        outbox.acknowledge("file", ["k1", "k2"], NOW)
        (owed,) = outbox.claim("webhook")  # the other sink still gets the whole alert
        assert keys(owed.alerts) == ["k1", "k2"]
    with sqlite3.connect(path) as con:
        kept = con.execute(
            "select sink, count(*) filter (where payload is not null) from deliveries"
            " group by sink order by sink"
        ).fetchall()
    assert kept == [("file", 0), ("webhook", 2)]
