"""Every question the dashboards and reports ask of the warehouse, as parameterised SQL.

One module on purpose: the pages and the reports show the same numbers because they run
the same statements, and a reviewer can check in one place that no text a user typed is
ever spliced into SQL (every value travels as a ``$name`` parameter).

The functions are pure over a read-only DuckDB connection and return pandas frames;
caching belongs to the Streamlit side (``dashboards.ui``). Filters follow one rule:
the zone filter selects *clients* for traffic, and *servers* for certificates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

SEVERITIES = ("critical", "high", "medium", "low")
_WORST_FIRST = "list_position([" + ", ".join(f"'{s}'" for s in SEVERITIES) + "], {col})"
VALIDITY_LIMITS = (47, 100, 200)  # CA/Browser Forum maximum lifetimes: 2029, 2027, 2026
AUTOMATED_PREFIXES = ("acme:", "agent:", "api:", "service:", "cert-manager:", "automation:")


@dataclass(frozen=True)
class Filters:
    """What every page and report is narrowed by. Dates are UTC days, both inclusive."""

    start: date
    end: date
    zones: tuple[str, ...] = field(default=())
    cas: tuple[str, ...] = field(default=())  # issuer_key_sha1 values

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "zones": list(self.zones),
            "cas": list(self.cas),
        }

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before, for trends."""
        return Filters(
            self.start - timedelta(days=self.days),
            self.start - timedelta(days=1),
            self.zones,
            self.cas,
        )


_PARAMETER = re.compile(r"\$([a-z_]+)")


def bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters the statement names: DuckDB refuses unused ones, and the filters
    offer more than any one statement needs."""
    return {name: params[name] for name in set(_PARAMETER.findall(sql))}


def _bound(sql: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return sql, bind(sql, params)


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    return con.execute(sql, bind(sql, params)).df()


def row(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    found = con.execute(sql, bind(sql, params)).fetchone()
    assert found is not None  # aggregates without GROUP BY always return one row
    return tuple(found)


# Shared predicates. ``$zones`` / ``$cas`` empty means "all".
_ZONE = "(len($zones::varchar[]) = 0 or list_contains($zones::varchar[], {col}))"
_CA = "(len($cas::varchar[]) = 0 or list_contains($cas::varchar[], {col}))"
# Traffic facts are narrowed to the zones' clients by a semi-join: five times faster than
# joining dim_client to every fact row and filtering (0.17 s against 0.88 s on the
# 100M-request warehouse).
# An alert concerns a zone when its client or its server sits there.
_ALERT_IN_ZONES = (
    "(len($zones::varchar[]) = 0"
    " or {alias}.client_ip in (select client_ip from dim_client"
    " where list_contains($zones::varchar[], zone))"
    " or {alias}.server in (select server from dim_server"
    " where list_contains($zones::varchar[], zone)))"
)
_CLIENT_IN_ZONES = (
    "(len($zones::varchar[]) = 0 or {col} in "
    "(select client_ip from dim_client where list_contains($zones::varchar[], zone)))"
)
_DAYS = "{col} between $start and $end"

# Each server's newest certificate issued by the end of the period (not the newest one
# the warehouse knows, which may come later): what a report for a past period must see.
_CURRENT_AT_END = """
    current_at_end as (
        select c.* from dim_certificate c
        where c.server is not null and c.in_inventory and c.not_before::date <= $end
        qualify row_number() over (
            partition by c.server order by c.not_before desc, c.certificate_key desc) = 1
    )
"""

# A certificate is "under management" on a day when it is in the inventory, serves a
# server, has started, has not expired and has not been revoked by then.
_MANAGED_ON = """
    c.in_inventory and c.server is not null
    and c.not_before::date <= $on and c.not_after::date > $on
    and (c.revoked_at is null or c.revoked_at::date > $on)
"""


# -- the data itself --------------------------------------------------------------------


def data_window(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """First and last day of validation traffic and when the warehouse was built, so
    every page and report can say how fresh it is."""
    row = con.execute(
        """
        select min(dt), max(dt), max(last_seen), max(built_at)
        from fact_validation_daily
        """
    ).fetchone()
    first, last, newest, built = row if row else (None, None, None, None)
    return {"first_day": first, "last_day": last, "newest_event": newest, "built_at": built}


def zone_options(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select distinct zone from dim_client where zone is not null "
        "union select distinct zone from dim_server where zone is not null order by 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def ca_options(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """``{issuer_key_sha1: common name}`` of every CA that issued a server certificate."""
    rows = con.execute(
        """
        select issuer_key_sha1, coalesce(common_name, subject, issuer_key_sha1)
        from dim_issuer where certificates_issued > 0 order by 2
        """
    ).fetchall()
    return {str(k): str(n) for k, n in rows}


# -- PKI team ---------------------------------------------------------------------------


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
        where {_MANAGED_ON} and {_CA.format(col="c.issuer_key_sha1")}
          and {_ZONE.format(col="s.zone")}
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
        where {_DAYS.format(col="i.issued_on")} and {_CA.format(col="i.issuer_key_sha1")}
          and {_ZONE.format(col="s.zone")}
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
        where i.is_renewal and {_DAYS.format(col="i.issued_on")}
          and {_CA.format(col="i.issuer_key_sha1")} and {_ZONE.format(col="s.zone")}
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
        with {_CURRENT_AT_END}
        select c.server, coalesce(s.zone, 'unknown') as zone,
               coalesce(i.common_name, c.issuer_key_sha1) as ca,
               c.serial, c.not_after, c.profile, c.requester,
               date_diff('day', $end::timestamptz, c.not_after) as days_left
        from current_at_end c
        left join dim_server s on s.server = c.server
        left join dim_issuer i on i.issuer_key_sha1 = c.issuer_key_sha1
        where c.not_after::date > $end and c.not_after::date <= $end + $days::integer
          and (c.revoked_at is null or c.revoked_at::date > $end)
          and {_CA.format(col="c.issuer_key_sha1")} and {_ZONE.format(col="s.zone")}
        order by c.not_after, c.server
        """,
        {**f.params(), "days": days},
    )


def expiry_outlook(con: duckdb.DuckDBPyConnection, f: Filters, weeks: int = 13) -> pd.DataFrame:
    """Current certificates (at the period's end) expiring per week ahead of it."""
    return frame(
        con,
        f"""
        with {_CURRENT_AT_END},
        ahead as (
            select (date_diff('day', $end::date, c.not_after::date) - 1) // 7 as week
            from current_at_end c
            left join dim_server s on s.server = c.server
            where c.not_after::date > $end
              and (c.revoked_at is null or c.revoked_at::date > $end)
              and c.not_after::date <= $end + 7 * $weeks::integer
              and {_CA.format(col="c.issuer_key_sha1")} and {_ZONE.format(col="s.zone")}
        )
        select w.week + 1 as week, $end + 7 * w.week::integer + 1 as week_start,
               count(a.week) as certificates
        from range($weeks::integer) w(week) left join ahead a on a.week = w.week
        group by all order by week
        """,
        {**f.params(), "weeks": weeks},
    )


def validation_load(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """OCSP requests per day and CA, the CDN/cache hit ratio and the responder's mean
    latency. Requests about unknown issuers are grouped as ``(unknown CA)``."""
    return frame(
        con,
        f"""
        select v.dt as day, coalesce(i.common_name, '(unknown CA)') as ca,
               sum(v.requests) as requests, sum(v.cache_hits) as cache_hits,
               round(100.0 * sum(v.cache_hits) / nullif(sum(v.requests), 0), 1)
                   as hit_ratio_percent,
               round(sum(v.origin_latency_ms_sum) / nullif(sum(v.origin_latency_samples), 0), 2)
                   as latency_ms,
               sum(v.origin_latency_ms_sum) as latency_ms_sum,
               sum(v.origin_latency_samples) as latency_samples,
               sum(v.error_responses + v.server_errors) as errors
        from fact_validation_daily v
        left join dim_issuer i using (issuer_key_sha1)
        where {_DAYS.format(col="v.dt")} and {_CA.format(col="v.issuer_key_sha1")}
          and {_CLIENT_IN_ZONES.format(col="v.client_ip")}
        group by all order by day, ca
        """,
        f.params(),
    )


def mean_latency(load: pd.DataFrame) -> float | None:
    """The responder's mean latency over ``validation_load`` rows: total time over the
    requests that reached it (cache hits have no origin latency and do not count)."""
    if load.empty or not load["latency_samples"].sum():
        return None
    return round(float(load["latency_ms_sum"].sum()) / float(load["latency_samples"].sum()), 2)


def crl_fetches(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """CRL downloads per day and CRL, with the share served from a cache or as 304."""
    return frame(
        con,
        f"""
        select r.dt as day, r.crl_name as crl, sum(r.fetches) as fetches,
               round(100.0 * sum(r.cache_hits) / nullif(sum(r.fetches), 0), 1)
                   as hit_ratio_percent,
               sum(r.errors) as errors, sum(r.bytes) as bytes
        from fact_crl_fetches_daily r
        where {_DAYS.format(col="r.dt")} and {_CLIENT_IN_ZONES.format(col="r.client_ip")}
          and {_CA.format(col="r.issuer_key_sha1")}
        group by all order by day, crl
        """,
        f.params(),
    )


def downloads_by_zone(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Trust-store and agent downloads by client zone, kind and version."""
    return frame(
        con,
        f"""
        select coalesce(c.zone, 'unlisted') as zone, d.kind, d.version,
               sum(d.downloads) as downloads, count(distinct d.client_ip) as clients
        from fact_downloads_daily d
        left join dim_client c using (client_ip)
        where d.kind in ('truststore', 'agent') and {_DAYS.format(col="d.dt")}
          and {_ZONE.format(col="c.zone")}
        group by all order by zone, kind, version
        """,
        f.params(),
    )


def agent_adoption(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Clients per certsight-agent version, from the User-Agent they validate with:
    what is actually running, not only what was downloaded."""
    return frame(
        con,
        f"""
        select regexp_extract(v.user_agent, 'certsight-agent/([^ ]+)', 1) as version,
               count(distinct v.client_ip) as clients, sum(v.requests) as requests
        from fact_validation_daily v
        where v.user_agent like 'certsight-agent/%' and {_DAYS.format(col="v.dt")}
          and {_CLIENT_IN_ZONES.format(col="v.client_ip")}
        group by all order by version
        """,
        f.params(),
    )


def version_order(version: str) -> tuple[int, ...]:
    """Sort key of a dotted version: 1.10.0 after 1.9.2 (a string sort says otherwise)."""
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


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


# -- Cyber defence ----------------------------------------------------------------------


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
          and {_ALERT_IN_ZONES.format(alias="a")}
        order by {_WORST_FIRST.format(col="a.severity")},
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
          and {_ALERT_IN_ZONES.format(alias="a")}
        group by severity, detector
        order by {_WORST_FIRST.format(col="severity")}, alerts desc
        """,
        f.params(),
    )


def alert_detail(con: duckdb.DuckDBPyConnection, alert_key: str) -> pd.DataFrame:
    return frame(con, "select * from alerts where alert_key = $key", {"key": alert_key})


def detectors(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("select distinct detector from alerts order by 1").fetchall()
    return [str(r[0]) for r in rows]


def find_servers(con: duckdb.DuckDBPyConnection, text: str, limit: int = 20) -> list[str]:
    """Servers whose host contains the text, busiest first."""
    rows = con.execute(
        """
        select server from dim_server
        where contains(server, lower(trim($text)))
        order by (server = lower(trim($text))) desc, clients desc nulls last, server
        limit $limit::integer
        """,
        {"text": text, "limit": limit},
    ).fetchall()
    return [str(r[0]) for r in rows]


def server_profile(con: duckdb.DuckDBPyConnection, server: str) -> pd.DataFrame:
    return frame(
        con,
        """
        select s.server, s.zone, s.site, s.owner, s.addresses, s.certificates,
               s.current_serial, coalesce(i.common_name, s.current_issuer_key_sha1) as ca,
               s.valid_until, s.certificates_revoked, s.is_stapled, s.clients,
               s.client_zones, s.requests, s.first_seen, s.last_seen
        from dim_server s left join dim_issuer i on i.issuer_key_sha1 = s.current_issuer_key_sha1
        where s.server = $server
        """,
        {"server": server},
    )


def server_reliance(con: duckdb.DuckDBPyConnection, server: str, f: Filters) -> pd.DataFrame:
    """The blast radius of a server: every client that validated it, with its zone and
    when. Edges are lifetime facts; the period keeps those active in it."""
    return frame(
        con,
        f"""
        select e.client_ip, coalesce(e.client_zone, 'unlisted') as client_zone,
               e.client_site, e.client_software, e.first_seen, e.last_seen,
               e.days_active, e.requests, e.crosses_zone
        from client_server_edges e
        where e.server = $server
          and e.last_seen::date >= $start and e.first_seen::date <= $end
          and {_ZONE.format(col="e.client_zone")}
        order by e.requests desc, e.client_ip
        """,
        {**f.params(), "server": server},
    )


def find_clients(con: duckdb.DuckDBPyConnection, text: str, limit: int = 20) -> list[str]:
    """Client addresses that start with the text, busiest first."""
    rows = con.execute(
        """
        select client_ip from dim_client
        where starts_with(client_ip, trim($text))
        order by (client_ip = trim($text)) desc, ocsp_requests desc nulls last, client_ip
        limit $limit::integer
        """,
        {"text": text, "limit": limit},
    ).fetchall()
    return [str(r[0]) for r in rows]


def client_profile(con: duckdb.DuckDBPyConnection, client_ip: str) -> pd.DataFrame:
    return frame(
        con,
        """
        select client_ip, zone, site, owner, network, user_agent, client_software,
               first_seen, last_seen, days_active, ocsp_requests, crl_fetches, downloads,
               servers, is_stapler, stapler_for
        from dim_client where client_ip = $ip
        """,
        {"ip": client_ip},
    )


def client_reliance(con: duckdb.DuckDBPyConnection, client_ip: str, f: Filters) -> pd.DataFrame:
    """Where a client connects: the servers it validated, with their zones."""
    return frame(
        con,
        """
        select e.server, coalesce(e.server_zone, 'unknown') as server_zone,
               e.first_seen, e.last_seen, e.days_active, e.requests, e.crosses_zone
        from client_server_edges e
        where e.client_ip = $ip
          and e.last_seen::date >= $start and e.first_seen::date <= $end
        order by e.requests desc, e.server
        """,
        {"ip": client_ip, "start": f.start, "end": f.end},
    )


def client_alerts(con: duckdb.DuckDBPyConnection, client_ip: str) -> pd.DataFrame:
    return frame(
        con,
        f"""
        select severity, detector, status, server, serial, first_seen, last_seen, alert_key
        from alerts where client_ip = $ip
        order by {_WORST_FIRST.format(col="severity")}, last_seen desc
        """,
        {"ip": client_ip},
    )


def server_alerts(con: duckdb.DuckDBPyConnection, server: str) -> pd.DataFrame:
    return frame(
        con,
        f"""
        select severity, detector, status, client_ip, serial, first_seen, last_seen, alert_key
        from alerts where server = $server
        order by {_WORST_FIRST.format(col="severity")}, last_seen desc
        """,
        {"server": server},
    )


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
        where {_DAYS.format(col="r.dt")}
          and {_CLIENT_IN_ZONES.format(col="r.client_ip")}
          and {_CA.format(col="r.issuer_key_sha1")}
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
        *_bound(
            f"""
            select risk, count(distinct client_ip)
            from fact_risky_validations_daily r
            where {_DAYS.format(col="r.dt")}
              and {_CLIENT_IN_ZONES.format(col="r.client_ip")}
              and {_CA.format(col="r.issuer_key_sha1")}
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
        where {_DAYS.format(col="e.first_seen::date")}
          and e.first_seen::date > (select min(dt) from fact_validation_daily)
          and {_ZONE.format(col="e.client_zone")}
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
        where {_DAYS.format(col="dt")} and {_ZONE.format(col="client_zone")}
        group by all order by client_zone, server_zone
        """,
        f.params(),
    )


# -- Management -------------------------------------------------------------------------


def kpis(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, float | int | None]:
    """The management numbers for one period (compare with ``f.previous()`` for trends).

    ``incidents_prevented`` counts renewals issued before the certificate they replace
    expired: each would otherwise have been a service failing its TLS handshakes.
    """
    params = f.params()
    managed = row(
        con,
        f"""
        select count(*) from dim_certificate c left join dim_server s on s.server = c.server
        where {_MANAGED_ON} and {_CA.format(col="c.issuer_key_sha1")}
          and {_ZONE.format(col="s.zone")}
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
               count(*) filter (where i.renewal_timing in ('on_time', 'late'))
        from fact_issuance i left join dim_server s using (server)
        where {_DAYS.format(col="i.issued_on")} and {_CA.format(col="i.issuer_key_sha1")}
          and {_ZONE.format(col="s.zone")}
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
        where {_ALERT_IN_ZONES.format(alias="a")}
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
        where {_DAYS.format(col="i.issued_on")} and {_CA.format(col="i.issuer_key_sha1")}
          and {_ZONE.format(col="s.zone")}
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
        where {_MANAGED_ON} and {_CA.format(col="c.issuer_key_sha1")}
          and {_ZONE.format(col="s.zone")}
        group by all order by band_order
        """,
        {**f.params(), "on": f.end},
    )


# -- Reports ----------------------------------------------------------------------------


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
