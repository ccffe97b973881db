{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='dt',
        on_schema_change='fail',
    )
}}
-- One row per client, server and day: certificates folded into the host they serve, so
-- renewals (a new serial every few weeks) do not break a client's history with a server.
-- Incremental: the days the fact rebuilt in this run are folded again.
select
    f.dt,
    f.client_ip,
    f.server,
    sum(f.requests) as requests,
    min(f.first_seen) as first_seen,
    max(f.last_seen) as last_seen,
    bit_or(f.hours_mask) as hours_mask,
    count(*) as certificates,  -- the fact has one row per certificate
    min(f.user_agent) as user_agent,
    {{ built_now() }} as built_at
from {{ ref('fact_validation_daily') }} as f
where f.server is not null
{% if is_incremental() -%}
  and f.dt in {{ days_built_now(ref('fact_validation_daily')) }}
{%- endif %}
group by f.dt, f.client_ip, f.server
