"""PKI: the CA footprint by client type: which client software (User-Agent family and
version) relies on which CA, through OCSP and CRLs, over ``fact_ca_reliance_daily``.

Traffic follows the rule for traffic: the zone filter selects *clients*.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards.queries.common import CA, CLIENT_IN_ZONES, DAYS, Filters, bound, frame

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

_IN_PERIOD = f"""
    {DAYS.format(col="r.dt")} and {CA.format(col="r.issuer_key_sha1")}
    and {CLIENT_IN_ZONES.format(col="r.client_ip")}
"""


def ca_footprint(con: duckdb.DuckDBPyConnection, f: Filters) -> pd.DataFrame:
    """One row per CA and client software version: distinct clients, their share of the
    CA's clients, OCSP requests and CRL fetches, and how many of those clients rely on
    this CA alone in the period (who is left without a fallback if it is retired)."""
    return frame(
        con,
        f"""
        with used as (
            select r.* from fact_ca_reliance_daily r where {_IN_PERIOD}
        ),
        cas_per_client as (
            select client_ip, count(distinct issuer_key_sha1) as cas from used group by 1
        ),
        ca_clients as (
            select issuer_key_sha1, count(distinct client_ip) as ca_clients from used group by 1
        )
        select coalesce(i.common_name, u.issuer_key_sha1) as ca, u.client_software,
               u.client_version,
               count(distinct u.client_ip) as clients,
               round(100.0 * count(distinct u.client_ip) / any_value(c.ca_clients), 1)
                   as share_of_ca_clients_percent,
               count(distinct u.client_ip) filter (where p.cas = 1) as clients_on_this_ca_only,
               coalesce(sum(u.requests) filter (where u.channel = 'ocsp'), 0)::bigint
                   as ocsp_requests,
               coalesce(sum(u.requests) filter (where u.channel = 'crl'), 0)::bigint
                   as crl_fetches,
               u.issuer_key_sha1
        from used u
        join cas_per_client p using (client_ip)
        join ca_clients c using (issuer_key_sha1)
        left join dim_issuer i using (issuer_key_sha1)
        group by ca, u.client_software, u.client_version, u.issuer_key_sha1
        order by ca, clients desc, u.client_software, u.client_version
        """,
        f.params(),
    )


def footprint_clients(con: duckdb.DuckDBPyConnection, f: Filters) -> dict[str, int]:
    """Distinct clients relying on any CA, and on more than one, in the period (not sums
    of the table: a client can run several client versions)."""
    found = con.execute(
        *bound(
            f"""
            with per_client as (
                select r.client_ip, count(distinct r.issuer_key_sha1) as cas
                from fact_ca_reliance_daily r where {_IN_PERIOD} group by 1
            )
            select count(*), count(*) filter (where cas > 1) from per_client
            """,
            f.params(),
        )
    ).fetchone()
    assert found is not None
    return {"clients": int(found[0]), "several_cas": int(found[1])}
