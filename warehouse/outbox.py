"""The alert outbox: what each sink is owed, what was sent to it, what it acknowledged.

Delivery runs after the new warehouse is swapped in, so that a slow or failing sink never
keeps readers on the old one. It therefore cannot record anything in the warehouse: that
would need a read-write connection on the live file, which shuts every reader out while it
is open (DuckDB) and which the next build's copy would race. The outbox is a small SQLite
file of its own (``HOME/.warehouse/outbox.sqlite``, next to the build's lock), written only
by the process holding that lock, in transactions fsynced at commit.

One row per (sink, alert key). Its life:

1. ``enqueue``: each open alert of the live warehouse is owed to each configured sink
   unless that sink has settled it (took it, or let it pass as below its
   ``min_severity``) at the alert's current severity or a higher one. The row holds the
   alert's JSON; until the alert is sent, each run refreshes it (the sink gets the newest
   count), and an alert that is no longer open before it was ever sent is withdrawn (as
   before the outbox: a finding that cleared unseen pages nobody).
   An alert that *escalates* (same key, higher severity than the one its row was settled
   at) is owed again, as a new attempt with the fresh payload: escalation is what a
   high-only pager exists for, and a sink that had the alert at medium must hear that it
   is now high. De-escalation owes nothing. An escalation still unsent when the alert
   clears or falls back to the settled severity is withdrawn: the row returns to what it
   was settled at.
2. ``claim``: the rows not sent yet (new, or owed again after an escalation) get a new
   attempt number, committed before anything is sent. Returned with them, first, are
   the earlier attempts still unacknowledged.
3. ``acknowledge``: the keys the sink took are marked, committed when it returns.

A crash before step 2's commit sends nothing and loses nothing: the alerts are in the
warehouse and the next run enqueues them. A crash between a sink's acceptance and step 3
leaves the attempt open: the next run sends it again with exactly the alerts and payloads
of the first try (frozen at claim, even if the alert progressed since), in their own
group, never mixed with newer alerts, so the webhook's batches and their
``Idempotency-Key``s come out identical and a receiver can drop the repeat. That is
at-least-once delivery with idempotency keys, not exactly-once: a receiver that ignores
``Idempotency-Key`` sees the attempt twice.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final

import orjson

from warehouse.alert import Alert, iso_utc, severity_rank

log = logging.getLogger(__name__)

OUTBOX_FILE: Final = "outbox.sqlite"
"""Its name in the build's work folder (``HOME/.warehouse``)."""

_SCHEMA_VERSION: Final = 2
"""1: one row per (sink, key), settled or not. 2: and at which severity it was settled."""

_SCHEMA: Final = (
    "create table deliveries ("
    " sink text not null,"
    " alert_key text not null,"
    " payload blob,"  # the alert's JSON; null once acknowledged, or imported from a warehouse
    " severity text,"  # the payload's severity (once acknowledged: the one it was settled at)
    " enqueued_at text not null,"
    " attempt integer,"  # null: not sent (in this version of the row)
    " acknowledged_at text,"  # null: owed
    " settled_severity text,"  # the severity last acknowledged; null: never, or not yet known
    " settled_at text,"  # when; kept while an escalation is owed, to withdraw it
    " primary key (sink, alert_key))",
    "create index open_attempts on deliveries (sink, attempt) where acknowledged_at is null",
    "create table last_attempt (number integer not null)",  # one row once an attempt is made
)

_UPGRADE_FROM_1: Final = (
    "create table last_attempt (number integer not null)",
    "alter table deliveries add column severity text",
    "alter table deliveries add column settled_severity text",
    "alter table deliveries add column settled_at text",
    "update deliveries set settled_at = acknowledged_at where acknowledged_at is not null",
)
"""Format 1 knew no severities. Acknowledged rows get theirs from the alert the first time
a run sees it open (``enqueue``), so an upgrade re-sends nothing; owed rows from their
payload (``_upgrade_from_1``)."""

LegacyDeliveries = Callable[[], Iterable[tuple[str, str, datetime]]]
"""(alert key, sink, delivered at) recorded before the outbox existed, read when it is made."""


class OutboxError(RuntimeError):
    """The outbox file cannot be used; the message names it and says what is at stake."""


@dataclass(frozen=True)
class Attempt:
    """Alerts sent to one sink together. ``repeat``: an earlier run sent them and did not
    record the answer; they go out again exactly as they did then."""

    number: int
    alerts: tuple[Alert, ...]
    repeat: bool


class Outbox:
    """An open outbox file. Use :meth:`open`; one process at a time (the build's lock)."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._con = connection

    @classmethod
    def open(cls, path: Path, *, legacy: LegacyDeliveries | None = None) -> Outbox:
        """Open or create the outbox. A new one starts with ``legacy``'s acknowledgements,
        so that an upgrade does not send every open alert again."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # autocommit mode: every write below is inside an explicit transaction
            con = sqlite3.connect(path, isolation_level=None, timeout=30)
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the alert outbox {path}: {exc}") from exc
        outbox = cls(path, con)
        try:
            with outbox._guard("open"):
                con.execute("pragma synchronous = full")  # a commit survives a power loss
                outbox._create(legacy)
        except BaseException:
            con.close()
            raise
        return outbox

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def enqueue(self, sinks: Sequence[str], alerts: Sequence[Alert], at: datetime) -> list[str]:
        """Owe each sink the open ``alerts`` it has not settled at their current severity
        or a higher one. Returns the problems of alerts that cannot be written as JSON (not
        owed: no sink could take them)."""
        rows: list[tuple[str, bytes, str]] = []
        problems: list[str] = []
        for alert in alerts:
            try:
                rows.append((alert.key, orjson.dumps(alert.to_json()), alert.severity))
            except (TypeError, ValueError) as exc:
                problems.append(f"{alert.key}: cannot encode: {exc}")
        when = iso_utc(at)
        current = {key: (payload, severity) for key, payload, severity in rows}
        with self._guard("enqueue alerts in"), self._transaction():
            self._con.execute("create temp table if not exists open_keys (key text primary key)")
            self._con.execute("delete from open_keys")
            self._con.executemany(
                "insert or ignore into open_keys values (?)", [(k,) for k in current]
            )
            for sink in sinks:
                self._adopt_severities(sink, current)
                self._con.executemany(
                    "insert into deliveries (sink, alert_key, payload, severity, enqueued_at)"
                    " values (?, ?, ?, ?, ?)"
                    " on conflict (sink, alert_key) do update"
                    " set payload = excluded.payload, severity = excluded.severity"
                    " where attempt is null and acknowledged_at is null",
                    [(sink, key, payload, severity, when) for key, payload, severity in rows],
                )
                self._escalate(sink, current, when)
                self._withdraw(sink, current)
        return problems

    def _adopt_severities(self, sink: str, current: Mapping[str, tuple[bytes, str]]) -> None:
        """Rows settled before severities were recorded (format 1, or imported from a
        warehouse) take the alert's severity as it is now: an upgrade re-sends nothing."""
        unknown = self._con.execute(
            "select alert_key from deliveries where sink = ? and acknowledged_at is not null"
            " and settled_severity is null and alert_key in (select key from open_keys)",
            [sink],
        ).fetchall()
        self._con.executemany(
            "update deliveries set settled_severity = ?, severity = ?"
            " where sink = ? and alert_key = ?",
            [(current[key][1], current[key][1], sink, key) for (key,) in unknown],
        )

    def _escalate(self, sink: str, current: Mapping[str, tuple[bytes, str]], when: str) -> None:
        """Owe again, as never sent, the settled alerts now more severe than when settled."""
        settled = self._con.execute(
            "select alert_key, settled_severity from deliveries"
            " where sink = ? and acknowledged_at is not null and settled_severity is not null"
            " and alert_key in (select key from open_keys)",
            [sink],
        ).fetchall()
        risen = [
            (current[key][0], current[key][1], when, sink, key)
            for key, was in settled
            if severity_rank(current[key][1]) > self._rank(sink, key, was)
        ]
        self._con.executemany(
            "update deliveries set payload = ?, severity = ?, enqueued_at = ?,"
            " attempt = null, acknowledged_at = null where sink = ? and alert_key = ?",
            risen,
        )
        for _, severity, _, _, key in risen:
            log.info("alert %s escalated to %s: owed to %s again", key, severity, sink)

    def _withdraw(self, sink: str, current: Mapping[str, tuple[bytes, str]]) -> None:
        """Unsent rows whose alert cleared: never settled, they go; an escalation that
        cleared, or fell back to the settled severity, returns to what was settled."""
        unsent = self._con.execute(
            "select alert_key, settled_severity from deliveries"
            " where sink = ? and attempt is null and acknowledged_at is null",
            [sink],
        ).fetchall()
        gone = [(sink, key) for key, was in unsent if was is None and key not in current]
        back = [
            (sink, key)
            for key, was in unsent
            if was is not None
            and (key not in current or severity_rank(current[key][1]) <= self._rank(sink, key, was))
        ]
        self._con.executemany("delete from deliveries where sink = ? and alert_key = ?", gone)
        self._con.executemany(
            "update deliveries set acknowledged_at = settled_at, severity = settled_severity,"
            " payload = null where sink = ? and alert_key = ?",
            back,
        )

    def _rank(self, sink: str, key: str, severity: str) -> int:
        try:
            return severity_rank(severity)
        except ValueError as exc:
            raise OutboxError(
                f"the alert outbox {self.path} records alert {key!r} for {sink} as settled at "
                f"an unknown severity: {exc}"
            ) from exc

    def claim(self, sink: str) -> list[Attempt]:
        """What ``sink`` is owed, as attempts to send now: the unacknowledged earlier ones
        first, then the alerts never sent as a new attempt (its number committed first)."""
        with self._guard(f"claim alerts for {sink} in"), self._transaction():
            # an escalation clears its row's attempt: the last number is kept apart, so a
            # new attempt never reuses the number of one that was sent
            (last,) = self._con.execute(
                "select coalesce(max(number), 0) from"
                " (select max(attempt) as number from deliveries"
                " union all select number from last_attempt)"
            ).fetchone()
            fresh = self._con.execute(
                "update deliveries set attempt = ?"
                " where sink = ? and attempt is null and acknowledged_at is null",
                [last + 1, sink],
            ).rowcount
            if fresh:
                self._con.execute("delete from last_attempt")
                self._con.execute("insert into last_attempt values (?)", [last + 1])
            rows = self._con.execute(
                "select attempt, alert_key, payload from deliveries"
                " where sink = ? and acknowledged_at is null and attempt is not null"
                " order by attempt, rowid",
                [sink],
            ).fetchall()
        grouped: dict[int, list[Alert]] = {}
        for number, key, payload in rows:
            grouped.setdefault(number, []).append(self._alert(sink, key, payload))
        newest = last + 1 if fresh else None
        return [
            Attempt(number, tuple(alerts), repeat=number != newest)
            for number, alerts in grouped.items()
        ]

    def acknowledge(self, sink: str, keys: Iterable[str], at: datetime) -> None:
        """Record that ``sink`` took ``keys`` (or let them pass as below its
        ``min_severity``), at the severity they were sent at: they are owed to it again
        only if they escalate beyond it (``enqueue``). The
        payload is dropped with the acknowledgement: only an unacknowledged attempt is
        ever sent again, and a delivered alert's evidence holds client addresses that
        retention must be able to age out of the warehouse (docs/lake.md, Retention)."""
        when = iso_utc(at)
        with self._guard(f"record deliveries to {sink} in"), self._transaction():
            self._con.executemany(
                "update deliveries set acknowledged_at = ?, settled_at = ?,"
                " settled_severity = severity, payload = null"
                " where sink = ? and alert_key = ? and acknowledged_at is null",
                [(when, when, sink, key) for key in keys],
            )

    def owed(self, sink: str) -> int:
        """How many alerts ``sink`` has not acknowledged (sent or not)."""
        with self._guard("read"):
            (count,) = self._con.execute(
                "select count(*) from deliveries where sink = ? and acknowledged_at is null",
                [sink],
            ).fetchone()
        return int(count)

    def _create(self, legacy: LegacyDeliveries | None) -> None:
        (version,) = self._con.execute("pragma user_version").fetchone()
        if version == _SCHEMA_VERSION:
            return
        if version not in (0, 1):
            raise OutboxError(
                f"the alert outbox {self.path} has format {version}; this certsight knows "
                f"format {_SCHEMA_VERSION} (was it written by a newer release?)"
            )
        # One transaction: a crash while making or upgrading it leaves the file as it was.
        imported: list[tuple[str, str, str, str, str]] = []
        with self._transaction():
            if version == 1:
                self._upgrade_from_1()
            else:
                for statement in _SCHEMA:
                    self._con.execute(statement)
                imported = [
                    (sink, key, iso_utc(at), iso_utc(at), iso_utc(at))
                    for key, sink, at in (legacy() if legacy is not None else ())
                ]
                self._con.executemany(
                    "insert or ignore into deliveries"
                    " (sink, alert_key, enqueued_at, acknowledged_at, settled_at)"
                    " values (?, ?, ?, ?, ?)",
                    imported,
                )
            self._con.execute(f"pragma user_version = {_SCHEMA_VERSION}")
        if version == 1:
            log.info("alert outbox %s upgraded to format %d", self.path, _SCHEMA_VERSION)
        if imported:
            log.info("alert outbox %s created with %d earlier deliveries", self.path, len(imported))

    def _upgrade_from_1(self) -> None:
        """Add the severities; owed rows take theirs from their payload (an unreadable one
        stays unknown: ``claim`` reports it when it is to be sent)."""
        for statement in _UPGRADE_FROM_1:
            self._con.execute(statement)
        owed = self._con.execute(
            "select sink, alert_key, payload from deliveries where payload is not null"
        ).fetchall()
        self._con.executemany(
            "update deliveries set severity = ? where sink = ? and alert_key = ?",
            [(_severity_of(payload), sink, key) for sink, key, payload in owed],
        )

    def _alert(self, sink: str, key: str, payload: bytes | None) -> Alert:
        try:
            if payload is None:
                raise ValueError("no payload")
            return Alert.from_json(orjson.loads(payload))
        except (ValueError, TypeError, KeyError) as exc:
            raise OutboxError(
                f"the alert outbox {self.path} holds an unreadable alert {key!r} for {sink}: {exc}"
            ) from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._con.execute("begin immediate")
        try:
            yield
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # the error may have ended it already
                self._con.execute("rollback")
            raise
        self._con.execute("commit")

    @contextlib.contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot {doing} the alert outbox {self.path}: {exc}") from exc


def _severity_of(payload: bytes) -> str | None:
    """The severity in an alert's JSON; None when it has none that certsight knows."""
    try:
        severity = orjson.loads(payload).get("severity")
        severity_rank(severity)
    except (ValueError, TypeError, AttributeError):
        return None
    return str(severity)
