"""The ``alerts`` table as :class:`Alert` objects, and which of them each sink has had.

Delivery state lives in the warehouse next to the alerts (``reference.alert_deliveries``),
written in the same build that raised them, so an alert is delivered once per sink and a
sink that was down gets what it missed on the next build.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import orjson

from warehouse.alert import Alert

_COLUMNS = (
    "alert_key, detector, severity, first_seen, last_seen, client_ip, server, serial, issuer, "
    "count, evidence"
)


def _alert(row: tuple[Any, ...]) -> Alert:
    evidence = orjson.loads(row[10]) if row[10] else {}
    return Alert(
        key=row[0],
        detector=row[1],
        severity=row[2],
        first_seen=_aware(row[3]),
        last_seen=_aware(row[4]),
        client_ip=row[5],
        server=row[6],
        serial=row[7],
        issuer=row[8],
        count=int(row[9] or 0),
        evidence=evidence if isinstance(evidence, dict) else {"value": evidence},
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def has_alerts_table(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'main' and table_name = 'alerts'"
    ).fetchone()
    return bool(found and found[0])


def read_alerts(
    con: duckdb.DuckDBPyConnection,
    *,
    since: date | None = None,
    detector: str | None = None,
    status: str | None = "open",
) -> list[tuple[Alert, str]]:
    """Alerts (with their status) whose activity reaches ``since`` by event time, most
    severe and newest first; ``status=None`` for open and cleared alike."""
    if not has_alerts_table(con):
        return []
    conditions, parameters = ["true"], []
    if status is not None:
        conditions.append("status = ?")
        parameters.append(status)
    if since is not None:
        conditions.append("last_seen >= cast(? as date)")
        parameters.append(since.isoformat())
    if detector is not None:
        conditions.append("detector = ?")
        parameters.append(detector)
    rows = con.execute(
        f"select {_COLUMNS}, status from alerts where {' and '.join(conditions)} "  # noqa: S608 - fixed text
        "order by case severity when 'critical' then 0 when 'high' then 1 "
        "when 'medium' then 2 else 3 end, last_seen desc, alert_key",
        parameters,
    ).fetchall()
    return [(_alert(row), row[11]) for row in rows]


def count_alerts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Alerts per status."""
    if not has_alerts_table(con):
        return {}
    rows = con.execute("select status, count(*) from alerts group by status").fetchall()
    return dict(rows)


def ensure_delivery_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists reference")
    con.execute(
        "create table if not exists reference.alert_deliveries ("
        " alert_key varchar not null, sink varchar not null,"
        " delivered_at timestamptz not null, primary key (alert_key, sink))"
    )


def owes(con: duckdb.DuckDBPyConnection, sink: str) -> bool:
    """Whether an open alert has not reached ``sink`` yet (works read-only)."""
    if not has_alerts_table(con):
        return False
    found = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'reference' and table_name = 'alert_deliveries'"
    ).fetchone()
    delivered_any = bool(found and found[0])
    query = "select count(*) from alerts a where a.status = 'open'"
    if delivered_any:
        query += (
            " and not exists (select 1 from reference.alert_deliveries d"
            " where d.alert_key = a.alert_key and d.sink = ?)"
        )
    count = con.execute(query, [sink] if delivered_any else []).fetchone()
    return bool(count and count[0])


def undelivered(con: duckdb.DuckDBPyConnection, sink: str) -> list[Alert]:
    if not has_alerts_table(con):
        return []
    ensure_delivery_table(con)
    rows = con.execute(
        f"select {_COLUMNS} from alerts a "  # noqa: S608 - fixed text
        "where a.status = 'open' and not exists (select 1 from reference.alert_deliveries d "
        " where d.alert_key = a.alert_key and d.sink = ?) "
        "order by first_seen, alert_key",
        [sink],
    ).fetchall()
    return [_alert(row) for row in rows]


def record_delivered(
    con: duckdb.DuckDBPyConnection, sink: str, keys: Iterable[str], at: datetime
) -> None:
    ensure_delivery_table(con)
    rows = [(key, sink, at) for key in keys]
    if rows:
        con.executemany(
            "insert into reference.alert_deliveries values (?, ?, ?) on conflict do nothing", rows
        )
