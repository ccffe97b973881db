"""Cyber defence: the detectors' alerts: the queue, counts by severity and detector,
one alert's detail and evidence, and the alerts about one client or server. An alert
concerns a zone when either of its ends sits there."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards.queries.common import ALERT_IN_ZONES, SEVERITIES, WORST_FIRST, Filters, frame

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


def alert_queue(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    statuses: tuple[str, ...] = ("open",),
    severities: tuple[str, ...] = SEVERITIES,
    detectors: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Alerts active in the period, worst first. The zone filter matches either end."""
    return frame(
        con,
        f"""
        select a.severity, a.detector, a.status, a.server, a.client_ip, a.serial,
               a.first_seen, a.last_seen, a.count, a.raised_at, a.alert_key,
               c.zone as client_zone, s.zone as server_zone
        from alerts a
        left join dim_client c using (client_ip)
        left join dim_server s on s.server = a.server
        where a.last_seen::date >= $start and a.first_seen::date <= $end
          and list_contains($statuses::varchar[], a.status)
          and list_contains($severities::varchar[], a.severity)
          and (len($detectors::varchar[]) = 0
               or list_contains($detectors::varchar[], a.detector))
          and {ALERT_IN_ZONES.format(alias="a")}
        order by {WORST_FIRST.format(col="a.severity")},
                 a.last_seen desc, a.alert_key
        """,
        {
            **f.params(),
            "statuses": list(statuses),
            "severities": list(severities),
            "detectors": list(detectors),
        },
    )


def alert_counts(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Open alerts in the period by severity and detector (zones: either end)."""
    return frame(
        con,
        f"""
        select severity, detector, count(*) as alerts
        from alerts a
        where status = 'open' and last_seen::date >= $start and first_seen::date <= $end
          and {ALERT_IN_ZONES.format(alias="a")}
        group by severity, detector
        order by {WORST_FIRST.format(col="severity")}, alerts desc
        """,
        f.params(),
    )


def alert_detail(con: duckdb.DuckDBPyConnection, alert_key: str) -> pd.DataFrame:
    return frame(con, "select * from alerts where alert_key = $key", {"key": alert_key})


def detectors(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("select distinct detector from alerts order by 1").fetchall()
    return [str(r[0]) for r in rows]


def client_alerts(con: duckdb.DuckDBPyConnection, client_ip: str) -> pd.DataFrame:
    return frame(
        con,
        f"""
        select severity, detector, status, server, serial, first_seen, last_seen, alert_key
        from alerts where client_ip = $ip
        order by {WORST_FIRST.format(col="severity")}, last_seen desc
        """,
        {"ip": client_ip},
    )


def server_alerts(con: duckdb.DuckDBPyConnection, server: str) -> pd.DataFrame:
    return frame(
        con,
        f"""
        select severity, detector, status, client_ip, serial, first_seen, last_seen, alert_key
        from alerts where server = $server
        order by {WORST_FIRST.format(col="severity")}, last_seen desc
        """,
        {"server": server},
    )


def alert_evidence(con: duckdb.DuckDBPyConnection, alert_keys: list[str]) -> pd.DataFrame:
    """The evidence (JSON text) of the given alerts, for the reports' evidence summaries."""
    return frame(
        con,
        """
        select alert_key, evidence from alerts
        where list_contains($keys::varchar[], alert_key)
        order by alert_key
        """,
        {"keys": list(alert_keys)},
    )
