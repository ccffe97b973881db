"""PKI team: who uses the published artefacts: trust-store and agent downloads, and the
agent versions seen validating."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards.queries.common import CLIENT_IN_ZONES, DAYS, ZONE, Filters, frame

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


def downloads_by_zone(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """Trust-store and agent downloads by client zone, kind and version."""
    return frame(
        con,
        f"""
        select coalesce(c.zone, 'unlisted') as zone, d.kind, d.version,
               sum(d.downloads) as downloads, count(distinct d.client_ip) as clients
        from fact_downloads_daily d
        left join dim_client c using (client_ip)
        where d.kind in ('truststore', 'agent') and {DAYS.format(col="d.dt")}
          and {ZONE.format(col="c.zone")}
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
        where v.user_agent like 'certsight-agent/%' and {DAYS.format(col="v.dt")}
          and {CLIENT_IN_ZONES.format(col="v.client_ip")}
        group by all order by version
        """,
        f.params(),
    )


def version_order(version: str) -> tuple[int, ...]:
    """Sort key of a dotted version: 1.10.0 after 1.9.2 (a string sort says otherwise)."""
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))
