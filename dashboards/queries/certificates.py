"""PKI team: certificates under management, issuance and renewals, what expires next,
and the certificate lookup. The zone filter selects *servers* here."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from dashboards.queries.common import CA, CURRENT_AT_END, DAYS, MANAGED_ON, ZONE, Filters, frame

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


def certificates_managed(
    con: duckdb.DuckDBPyConnection, f: Filters, on: date | None = None
) -> pd.DataFrame:
    """Certificates under management on ``on`` (default: the end of the period), by CA,
    profile and key algorithm."""
    return frame(
        con,
        f"""
        select coalesce(i.common_name, c.issuer_key_sha1) as ca, c.profile,
               c.key_algorithm, count(*) as certificates
        from dim_certificate c
        left join dim_issuer i using (issuer_key_sha1)
        left join dim_server s on s.server = c.server
        where {MANAGED_ON} and {CA.format(col="c.issuer_key_sha1")}
          and {ZONE.format(col="s.zone")}
        group by all order by certificates desc, ca, profile, key_algorithm
        """,
        {**f.params(), "on": on or f.end},
    )


def issuance_daily(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Certificates issued per day, split into first issues and renewals by timing."""
    return frame(
        con,
        f"""
        select i.issued_on as day, i.renewal_timing, count(*) as certificates
        from fact_issuance i left join dim_server s using (server)
        where {DAYS.format(col="i.issued_on")} and {CA.format(col="i.issuer_key_sha1")}
          and {ZONE.format(col="s.zone")}
        group by all order by day, renewal_timing
        """,
        f.params(),
    )


def renewal_timing(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Renewals in the period by timing (on_time, late, after_expiry), with their share."""
    return frame(
        con,
        f"""
        select i.renewal_timing, count(*) as renewals,
               round(100.0 * count(*) / sum(count(*)) over (), 1) as percent
        from fact_issuance i left join dim_server s using (server)
        where i.is_renewal and {DAYS.format(col="i.issued_on")}
          and {CA.format(col="i.issuer_key_sha1")} and {ZONE.format(col="s.zone")}
        group by all order by renewals desc
        """,
        f.params(),
    )


def expiries_ahead(con: duckdb.DuckDBPyConnection, f: Filters, days: int = 90) -> pd.DataFrame:
    """Servers whose current certificate (at the period's end) expires within ``days``
    of it and had not been renewed by then: the list a PKI team works through."""
    return frame(
        con,
        f"""
        with {CURRENT_AT_END}
        select c.server, coalesce(s.zone, 'unknown') as zone,
               coalesce(i.common_name, c.issuer_key_sha1) as ca,
               c.serial, c.not_after, c.profile, c.requester,
               date_diff('day', $end::timestamptz, c.not_after) as days_left
        from current_at_end c
        left join dim_server s on s.server = c.server
        left join dim_issuer i on i.issuer_key_sha1 = c.issuer_key_sha1
        where c.not_after::date > $end and c.not_after::date <= $end + $days::integer
          and (c.revoked_at is null or c.revoked_at::date > $end)
          and {CA.format(col="c.issuer_key_sha1")} and {ZONE.format(col="s.zone")}
        order by c.not_after, c.server
        """,
        {**f.params(), "days": days},
    )


def expiry_outlook(con: duckdb.DuckDBPyConnection, f: Filters, weeks: int = 13) -> pd.DataFrame:
    """Current certificates (at the period's end) expiring per week ahead of it."""
    return frame(
        con,
        f"""
        with {CURRENT_AT_END},
        ahead as (
            select (date_diff('day', $end::date, c.not_after::date) - 1) // 7 as week
            from current_at_end c
            left join dim_server s on s.server = c.server
            where c.not_after::date > $end
              and (c.revoked_at is null or c.revoked_at::date > $end)
              and c.not_after::date <= $end + 7 * $weeks::integer
              and {CA.format(col="c.issuer_key_sha1")} and {ZONE.format(col="s.zone")}
        )
        select w.week + 1 as week, $end + 7 * w.week::integer + 1 as week_start,
               count(a.week) as certificates
        from range($weeks::integer) w(week) left join ahead a on a.week = w.week
        group by all order by week
        """,
        {**f.params(), "weeks": weeks},
    )


def find_certificates(
    con: duckdb.DuckDBPyConnection, serial_or_host: str, limit: int = 50
) -> pd.DataFrame:
    """Certificates whose serial starts with the text (colons and case ignored) or whose
    server contains it."""
    text = serial_or_host.strip().lower()
    return frame(
        con,
        """
        select c.serial, c.server, coalesce(i.common_name, c.issuer_key_sha1) as ca,
               c.status, c.not_before, c.not_after, c.validity_days, c.profile,
               c.requester, c.revoked_at, c.revocation_reason, c.requests, c.clients,
               c.last_validated
        from dim_certificate c left join dim_issuer i using (issuer_key_sha1)
        where $text <> '' and (
            starts_with(c.serial, replace($text, ':', ''))
            or contains(lower(coalesce(c.server, '')), $text))
        order by c.not_after desc limit $limit::integer
        """,
        {"text": text, "limit": limit},
    )
