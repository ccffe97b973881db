"""The ``alerts`` table as :class:`Alert` objects.

Which of them each sink has had is not here: it lives in the alert outbox
(``warehouse/outbox.py``), a file of its own, because delivery runs after the warehouse is
swapped in and must not write to the file readers use. Builds before the outbox kept it in
``reference.alert_deliveries``; :func:`deliveries_before_outbox` reads that table once, when
the outbox is made.
"""

from __future__ import annotations

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


def deliveries_before_outbox(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, datetime]]:
    """(alert key, sink, delivered at) from ``reference.alert_deliveries``, where builds
    before the outbox (``warehouse/outbox.py``) recorded deliveries; empty when absent.
    Read once, when the outbox is made, so an upgrade sends no alert a second time."""
    found = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'reference' and table_name = 'alert_deliveries'"
    ).fetchone()
    if not (found and found[0]):
        return []
    rows = con.execute(
        "select alert_key, sink, delivered_at from reference.alert_deliveries order by all"
    ).fetchall()
    return [(key, sink, _aware(at)) for key, sink, at in rows]
