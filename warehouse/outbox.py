"""The alert outbox: what each sink is owed, what was sent to it, what it acknowledged.

Delivery runs after the new warehouse is swapped in, so that a slow or failing sink never
keeps readers on the old one. It therefore cannot record anything in the warehouse: that
would need a read-write connection on the live file, which shuts every reader out while it
is open (DuckDB) and which the next build's copy would race. The outbox is a small SQLite
file of its own (``HOME/.warehouse/outbox.sqlite``, next to the build's lock), written only
by the process holding that lock, in transactions fsynced at commit.

One row per (sink, alert key). Its life:

1. ``enqueue``: each open alert of the live warehouse is owed to each configured sink
   unless that sink has had it. The row holds the alert's JSON; until the alert is first
   sent, each run refreshes it (the sink gets the newest count), and an alert that is no
   longer open before it was ever sent is withdrawn (as before the outbox: a finding that
   cleared unseen pages nobody).
2. ``claim``: the rows never sent get an attempt number, committed before anything is
   sent. Returned with them, first, are the earlier attempts still unacknowledged.
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final

import orjson

from warehouse.alert import Alert, iso_utc

log = logging.getLogger(__name__)

OUTBOX_FILE: Final = "outbox.sqlite"
"""Its name in the build's work folder (``HOME/.warehouse``)."""

_SCHEMA_VERSION: Final = 1

_SCHEMA: Final = (
    "create table deliveries ("
    " sink text not null,"
    " alert_key text not null,"
    " payload blob,"  # the alert's JSON; null for acknowledgements imported from a warehouse
    " enqueued_at text not null,"
    " attempt integer,"  # null: never sent
    " acknowledged_at text,"  # null: owed
    " primary key (sink, alert_key))",
    "create index open_attempts on deliveries (sink, attempt) where acknowledged_at is null",
)

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
        """Owe each sink the open ``alerts`` it has not had. Returns the problems of
        alerts that cannot be written as JSON (not owed: no sink could take them)."""
        rows: list[tuple[str, bytes]] = []
        problems: list[str] = []
        for alert in alerts:
            try:
                rows.append((alert.key, orjson.dumps(alert.to_json())))
            except (TypeError, ValueError) as exc:
                problems.append(f"{alert.key}: cannot encode: {exc}")
        when = iso_utc(at)
        with self._guard("enqueue alerts in"), self._transaction():
            self._con.execute("create temp table if not exists open_keys (key text primary key)")
            self._con.execute("delete from open_keys")
            self._con.executemany(
                "insert or ignore into open_keys values (?)", [(k,) for k, _ in rows]
            )
            for sink in sinks:
                self._con.executemany(
                    "insert into deliveries (sink, alert_key, payload, enqueued_at)"
                    " values (?, ?, ?, ?)"
                    " on conflict (sink, alert_key) do update set payload = excluded.payload"
                    " where attempt is null and acknowledged_at is null",
                    [(sink, key, payload, when) for key, payload in rows],
                )
                self._con.execute(
                    "delete from deliveries where sink = ? and attempt is null"
                    " and acknowledged_at is null"
                    " and alert_key not in (select key from open_keys)",
                    [sink],
                )
        return problems

    def claim(self, sink: str) -> list[Attempt]:
        """What ``sink`` is owed, as attempts to send now: the unacknowledged earlier ones
        first, then the alerts never sent as a new attempt (its number committed first)."""
        with self._guard(f"claim alerts for {sink} in"), self._transaction():
            (last,) = self._con.execute(
                "select coalesce(max(attempt), 0) from deliveries"
            ).fetchone()
            fresh = self._con.execute(
                "update deliveries set attempt = ?"
                " where sink = ? and attempt is null and acknowledged_at is null",
                [last + 1, sink],
            ).rowcount
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
        """Record that ``sink`` took ``keys``: they are never owed to it again. The
        payload is dropped with the acknowledgement: only an unacknowledged attempt is
        ever sent again, and a delivered alert's evidence holds client addresses that
        retention must be able to age out of the warehouse (docs/lake.md, Retention)."""
        when = iso_utc(at)
        with self._guard(f"record deliveries to {sink} in"), self._transaction():
            self._con.executemany(
                "update deliveries set acknowledged_at = ?, payload = null"
                " where sink = ? and alert_key = ? and acknowledged_at is null",
                [(when, sink, key) for key in keys],
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
        if version != 0:
            raise OutboxError(
                f"the alert outbox {self.path} has format {version}; this certsight knows "
                f"format {_SCHEMA_VERSION} (was it written by a newer release?)"
            )
        # One transaction: a crash while making it leaves no half-imported outbox.
        with self._transaction():
            for statement in _SCHEMA:
                self._con.execute(statement)
            imported = [
                (sink, key, iso_utc(at), iso_utc(at))
                for key, sink, at in (legacy() if legacy is not None else ())
            ]
            self._con.executemany(
                "insert or ignore into deliveries (sink, alert_key, enqueued_at, acknowledged_at)"
                " values (?, ?, ?, ?)",
                imported,
            )
            self._con.execute(f"pragma user_version = {_SCHEMA_VERSION}")
        if imported:
            log.info("alert outbox %s created with %d earlier deliveries", self.path, len(imported))

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
