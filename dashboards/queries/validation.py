"""PKI team: the load on the validation services: OCSP requests per CA and day with
cache hits and the responder's latency, and CRL downloads. The zone filter selects
*clients* here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards.queries.common import CA, CLIENT_IN_ZONES, DAYS, Filters, frame

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


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
        where {DAYS.format(col="v.dt")} and {CA.format(col="v.issuer_key_sha1")}
          and {CLIENT_IN_ZONES.format(col="v.client_ip")}
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
        where {DAYS.format(col="r.dt")} and {CLIENT_IN_ZONES.format(col="r.client_ip")}
          and {CA.format(col="r.issuer_key_sha1")}
        group by all order by day, crl
        """,
        f.params(),
    )
