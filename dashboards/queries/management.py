"""Management: the KPIs of a period, their weekly trend, and certificates under
management by lifetime against the CA/Browser Forum limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards.queries.common import (
    ALERT_IN_ZONES,
    CA,
    DAYS,
    MANAGED_ON,
    ZONE,
    Filters,
    frame,
    row,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


def kpis(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, float | int | None]:
    """The management numbers for one period (compare with ``f.previous()`` for trends).

    ``incidents_prevented`` counts renewals that were on time by certsight's own renewal
    rule (before the renewal window closed, ``fact_issuance.renewal_timing``): each
    would otherwise have been a service failing its TLS handshakes. Renewals after the
    window but before expiry are ``late_renewals``, apart: they averted the outage by
    luck, not by the process.
    """
    params = f.params()
    managed = row(
        con,
        f"""
        select count(*) from dim_certificate c left join dim_server s on s.server = c.server
        where {MANAGED_ON} and {CA.format(col="c.issuer_key_sha1")}
          and {ZONE.format(col="s.zone")}
        """,
        {**params, "on": f.end},
    )
    issued = row(
        con,
        f"""
        select count(*),
               round(100.0 * count(*) filter (where i.automated) / nullif(count(*), 0), 1),
               median(i.validity_days),
               count(*) filter (where i.is_renewal),
               round(100.0 * count(*) filter (where i.renewal_timing = 'on_time')
                     / nullif(count(*) filter (where i.is_renewal), 0), 1),
               count(*) filter (where i.renewal_timing = 'on_time'),
               count(*) filter (where i.renewal_timing = 'late')
        from fact_issuance i left join dim_server s using (server)
        where {DAYS.format(col="i.issued_on")} and {CA.format(col="i.issuer_key_sha1")}
          and {ZONE.format(col="s.zone")}
        """,
        params,
    )
    alerts = row(
        con,
        f"""
        select count(*) filter (where severity = 'critical' and status = 'open'
                                and first_seen::date <= $end),
               count(*) filter (where severity in ('critical', 'high')
                                and first_seen::date between $start and $end)
        from alerts a
        where {ALERT_IN_ZONES.format(alias="a")}
        """,
        params,
    )
    return {
        "certificates_managed": int(managed[0]),
        "issued": int(issued[0]),
        "automation_rate_percent": issued[1],
        "median_validity_days": issued[2],
        "renewals": int(issued[3]),
        "on_time_renewal_percent": issued[4],
        "incidents_prevented": int(issued[5]),
        "late_renewals": int(issued[6]),
        "open_critical_alerts": int(alerts[0]),
        "serious_alerts_raised": int(alerts[1]),
    }


def weekly_trends(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Issuance KPIs per ISO week of the period: how automation, validity and on-time
    renewal move."""
    return frame(
        con,
        f"""
        select date_trunc('week', i.issued_on)::date as week, count(*) as issued,
               round(100.0 * count(*) filter (where i.automated) / count(*), 1)
                   as automation_rate_percent,
               median(i.validity_days) as median_validity_days,
               round(100.0 * count(*) filter (where i.renewal_timing = 'on_time')
                     / nullif(count(*) filter (where i.is_renewal), 0), 1)
                   as on_time_renewal_percent
        from fact_issuance i left join dim_server s using (server)
        where {DAYS.format(col="i.issued_on")} and {CA.format(col="i.issuer_key_sha1")}
          and {ZONE.format(col="s.zone")}
        group by all order by week
        """,
        f.params(),
    )


def validity_distribution(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Certificates under management by lifetime band, against the CA/Browser Forum
    limits (200 days from March 2026, 100 from March 2027, 47 from March 2029)."""
    return frame(
        con,
        f"""
        select case
                 when c.validity_days <= 47 then '≤ 47 d (fits 2029)'
                 when c.validity_days <= 100 then '48–100 d (fits 2027)'
                 when c.validity_days <= 200 then '101–200 d (fits 2026)'
                 else '> 200 d (over every limit)'
               end as band,
               case when c.validity_days <= 47 then 1 when c.validity_days <= 100 then 2
                    when c.validity_days <= 200 then 3 else 4 end as band_order,
               count(*) as certificates
        from dim_certificate c left join dim_server s on s.server = c.server
        where {MANAGED_ON} and {CA.format(col="c.issuer_key_sha1")}
          and {ZONE.format(col="s.zone")}
        group by all order by band_order
        """,
        {**f.params(), "on": f.end},
    )
