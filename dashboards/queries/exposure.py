"""Cyber defence: validations that should not happen (revoked, unknown, expired
certificates), new client-server edges, and traffic from zone to zone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards.queries.common import CA, CLIENT_IN_ZONES, DAYS, ZONE, Filters, bound, frame

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


def risky_validations(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Revoked, unknown and expired certificates still being validated, per certificate:
    each row is a client population about to trust, or already trusting, something it
    should not (from fact_risky_validations_daily)."""
    return frame(
        con,
        f"""
        select r.risk, r.server, r.serial,
               coalesce(i.common_name, r.issuer_key_sha1, r.issuer_key_hash) as issuer,
               sum(r.requests) as requests, count(distinct r.client_ip) as clients,
               min(r.first_seen) as first_seen, max(r.last_seen) as last_seen,
               d.not_after, d.revoked_at, d.revocation_reason
        from fact_risky_validations_daily r
        left join dim_certificate d using (certificate_key)
        left join dim_issuer i on i.issuer_key_sha1 = r.issuer_key_sha1
        where {DAYS.format(col="r.dt")}
          and {CLIENT_IN_ZONES.format(col="r.client_ip")}
          and {CA.format(col="r.issuer_key_sha1")}
        group by r.risk, r.server, r.serial, 4, d.not_after, d.revoked_at,
                 d.revocation_reason
        order by list_position(['revoked', 'unknown', 'expired'], r.risk), requests desc
        """,
        f.params(),
    )


def risky_clients(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, int]:
    """Distinct clients per risk (revoked, unknown, expired) in the period: a client
    validating two revoked certificates is one client, not two."""
    rows = con.execute(
        *bound(
            f"""
            select risk, count(distinct client_ip)
            from fact_risky_validations_daily r
            where {DAYS.format(col="r.dt")}
              and {CLIENT_IN_ZONES.format(col="r.client_ip")}
              and {CA.format(col="r.issuer_key_sha1")}
            group by risk
            """,
            f.params(),
        )
    ).fetchall()
    found = {str(risk): int(n) for risk, n in rows}
    return {risk: found.get(risk, 0) for risk in ("revoked", "unknown", "expired")}


def new_edges_daily(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Client-server pairs seen for the first time, per day, within or across zones. The
    first day of data is left out: every pair is "new" there."""
    return frame(
        con,
        f"""
        select e.first_seen::date as day,
               case when e.crosses_zone then 'across zones' else 'within a zone' end as kind,
               count(*) as new_edges
        from client_server_edges e
        where {DAYS.format(col="e.first_seen::date")}
          and e.first_seen::date > (select min(dt) from fact_validation_daily)
          and {ZONE.format(col="e.client_zone")}
        group by all order by day, kind
        """,
        f.params(),
    )


def zone_matrix(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Validation requests from each client zone to each server zone in the period, from
    the small daily zone mart (staplers left out). The CA filter does not apply: the
    mart is by zone only. ``clients`` sums daily distinct clients (client-days)."""
    return frame(
        con,
        f"""
        select client_zone, server_zone, sum(requests) as requests,
               sum(clients) as client_days
        from fact_zone_traffic_daily
        where {DAYS.format(col="dt")} and {ZONE.format(col="client_zone")}
        group by all order by client_zone, server_zone
        """,
        f.params(),
    )
