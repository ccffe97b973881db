"""Cyber defence: who relies on whom: finding a server or a client by what the user
types, its profile, and the client-server edges seen in the period."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards.queries.common import ZONE, Filters, frame

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


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
          and {ZONE.format(col="e.client_zone")}
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


def ranked_servers(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = 50) -> pd.DataFrame:
    """The most relied-upon servers of the period: most clients first, then most client
    zones (a server relied on across the network reaches further), then validations. What
    the server page opens on before anyone has typed a name."""
    return frame(
        con,
        f"""
        select e.server, coalesce(any_value(e.server_zone), 'unknown') as server_zone,
               count(distinct e.client_ip) as clients,
               count(distinct coalesce(e.client_zone, 'unlisted')) as client_zones,
               count(distinct e.client_ip) filter (where e.crosses_zone) as clients_across_zones,
               sum(e.requests)::bigint as requests
        from client_server_edges e
        where e.last_seen::date >= $start and e.first_seen::date <= $end
          and {ZONE.format(col="e.client_zone")}
        group by e.server
        order by clients desc, client_zones desc, requests desc, e.server
        limit $limit::integer
        """,
        {**f.params(), "limit": limit},
    )


def ranked_clients(con: duckdb.DuckDBPyConnection, f: Filters, limit: int = 50) -> pd.DataFrame:
    """The clients with the most servers in the period (then most server zones): where
    one compromised machine reaches furthest. What the client page opens on."""
    return frame(
        con,
        f"""
        select e.client_ip, coalesce(any_value(e.client_zone), 'unlisted') as client_zone,
               any_value(e.client_software) as client_software,
               count(distinct e.server) as servers,
               count(distinct coalesce(e.server_zone, 'unknown')) as server_zones,
               count(distinct e.server) filter (where e.crosses_zone) as servers_across_zones,
               sum(e.requests)::bigint as requests
        from client_server_edges e
        where e.last_seen::date >= $start and e.first_seen::date <= $end
          and {ZONE.format(col="e.client_zone")}
        group by e.client_ip
        order by servers desc, server_zones desc, requests desc, e.client_ip
        limit $limit::integer
        """,
        {**f.params(), "limit": limit},
    )
