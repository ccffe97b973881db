{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='dt',
        on_schema_change='fail',
    )
}}
-- One row per client, CRL and day.
select
    dt,
    client_ip,
    coalesce(crl_name, path) as crl_name,
    min(issuer_key_sha1) as issuer_key_sha1,
    count(*) as fetches,
    count(*) filter (where cache_hit) as cache_hits,
    count(*) filter (where http_status = 304) as not_modified,
    count(*) filter (where http_status >= 400) as errors,
    coalesce(sum(bytes), 0) as bytes,
    max(crl_number) as max_crl_number,
    min(event_time) as first_seen,
    max(event_time) as last_seen,
    avg(latency_ms) as avg_latency_ms,
    min(user_agent) as user_agent
from {{ ref('stg_crl_fetches') }}
where {{ scope_filter('crl_fetches') }}
group by dt, client_ip, coalesce(crl_name, path)
