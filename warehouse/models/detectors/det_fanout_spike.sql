-- A client validates far more distinct servers within an hour than it usually does: a scan,
-- or lateral movement. Baseline: the client's own hourly counts over the previous
-- var fanout_baseline_days (median and MAD), with a floor so a quiet client that touches a
-- handful of extra servers is not an incident. Incremental: the days rebuilt upstream in
-- this run are judged again (with their baselines); the other days' findings stay.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='dt',
        on_schema_change='append_new_columns',
    )
}}
-- depends_on: {{ ref('int_client_server_daily') }}
{%- set floor = var('fanout_floor', 10) %}
{%- set min_hours = var('fanout_min_baseline_hours', 8) %}
{%- set baseline_days = var('fanout_baseline_days') %}
with judged_days as (
    {% if is_incremental() -%}
    {{ days_built_now(ref('int_client_server_daily')) }}
    {%- else -%}
    select distinct dt from {{ ref('int_reliance_daily') }}
    {%- endif %}
),

pairs as (
    select dt, client_ip, server, hours_mask
    from {{ ref('int_reliance_daily') }}
    {% if is_incremental() -%}
    -- the judged days and the baseline days before them
    where dt >= (select min(dt) from judged_days) - {{ baseline_days }}
      and dt <= (select max(dt) from judged_days)
    {%- endif %}
),

per_day as (
    -- distinct servers in each hour of the day: one sum per hour bit
    select
        client_ip,
        dt,
        {% for hour in range(24) -%}
        sum({{ hour_is_set('hours_mask', hour) }}) as h{{ hour }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from pairs
    group by client_ip, dt
),

hourly as (
    select client_ip, dt, hour, servers
    from (
        {% for hour in range(24) -%}
        select client_ip, dt, {{ hour }} as hour, h{{ hour }} as servers from per_day
        {% if not loop.last %}union all{% endif %}
        {% endfor %}
    )
    where servers > 0
),

candidates as (
    select *
    from hourly
    where servers >= {{ floor }} and dt in (select dt from judged_days)
),

baseline as (
    select
        c.client_ip,
        c.dt,
        c.hour,
        c.servers,
        count(b.servers) as baseline_hours,
        median(b.servers) as baseline_median,
        mad(b.servers) as baseline_mad
    from candidates as c
    left join hourly as b
        on b.client_ip = c.client_ip
        and b.dt < c.dt
        and b.dt >= c.dt - {{ baseline_days }}
    group by c.client_ip, c.dt, c.hour, c.servers
),

spikes as (
    select
        *,
        greatest(
            baseline_median + 5 * greatest(1.4826 * baseline_mad, 1),
            3 * baseline_median,
            baseline_median + {{ floor }}
        ) as threshold
    from baseline
    where baseline_hours >= {{ min_hours }}
),

flagged as (
    select * from spikes where servers > threshold
),

hosts as (
    select
        f.client_ip,
        f.dt,
        list(distinct p.server order by p.server)[1:25] as sample_servers
    from flagged as f
    inner join pairs as p
        on p.client_ip = f.client_ip and p.dt = f.dt
        and {{ hour_is_set('p.hours_mask', 'f.hour') }} = 1
    group by f.client_ip, f.dt
)

select
    f.dt,
    md5('fanout_spike|' || f.client_ip || '|' || cast(f.dt as varchar)) as alert_key,
    'fanout_spike' as detector,
    'high' as severity,
    cast(f.dt as timestamptz) + to_hours(min(f.hour)) as first_seen,
    cast(f.dt as timestamptz) + to_hours(max(f.hour) + 1) as last_seen,
    f.client_ip,
    cast(null as varchar) as server,
    cast(null as varchar) as serial,
    cast(null as varchar) as issuer,
    max(f.servers) as count,
    json_object(
        'why', 'far more distinct servers in an hour than this client''s baseline',
        'hours', list(json_object('hour', f.hour, 'servers', f.servers) order by f.hour),
        'baseline_median', min(f.baseline_median),
        'baseline_mad', min(f.baseline_mad),
        'baseline_hours', min(f.baseline_hours),
        'threshold', min(f.threshold),
        'sample_servers', min(h.sample_servers)
    )::varchar as evidence
from flagged as f
inner join hosts as h using (client_ip, dt)
group by f.client_ip, f.dt
