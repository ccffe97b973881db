{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='dt',
        on_schema_change='fail',
    )
}}
-- One row per client, published artifact (kind, name, version, channel) and day: who
-- fetches trust stores and agents, and which versions are out there.
select
    dt,
    client_ip,
    coalesce(kind, 'other') as kind,
    coalesce(name, path, '') as name,
    coalesce(version, '') as version,
    coalesce(channel, '') as channel,
    count(*) as downloads,
    count(*) filter (where http_status < 400) as successful_downloads,
    count(*) filter (where http_status >= 400) as errors,
    coalesce(sum(bytes), 0) as bytes,
    min(event_time) as first_seen,
    max(event_time) as last_seen,
    min(user_agent) as user_agent
from {{ ref('stg_artifact_downloads') }}
where {{ scope_filter('artifact_downloads') }}
group by dt, client_ip, coalesce(kind, 'other'), coalesce(name, path, ''), coalesce(version, ''), coalesce(channel, '')
