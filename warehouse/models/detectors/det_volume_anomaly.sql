-- A server's validations drop to nothing, or jump far outside its baseline, over a whole
-- UTC day. Daily totals absorb the diurnal swing; the baseline (previous
-- var volume_baseline_days days, median and MAD, zeros included) absorbs weekends. Only
-- complete days are judged, and a drop is not news when the server had no valid certificate.
{%- set days = var('volume_baseline_days') %}
with window_ as (
    select * from {{ ref('int_data_window') }}
),

daily as (
    select server, dt, sum(requests) as requests
    from {{ ref('int_reliance_daily') }}
    group by server, dt
),

span as (
    select server, min(dt) as first_dt
    from daily
    group by server
),

calendar as (
    select s.server, cast(c.day as date) as dt
    from span as s
    cross join window_ as w
    cross join lateral (
        select unnest(generate_series(cast(s.first_dt as timestamp), cast(w.last_complete_day as timestamp), interval 1 day)) as day
    ) as c
),

series as (
    select c.server, c.dt, coalesce(d.requests, 0) as requests
    from calendar as c
    left join daily as d using (server, dt)
),

judged as (
    select
        server,
        dt,
        requests,
        count(*) over baseline as baseline_days,
        median(requests) over baseline as baseline_median,
        mad(requests) over baseline as baseline_mad
    from series
    window baseline as (partition by server order by dt rows between {{ days }} preceding and 1 preceding)
),

covered as (
    -- days on which the server had a certificate that was neither expired nor revoked
    select distinct j.server, j.dt
    from judged as j
    inner join {{ ref('dim_certificate') }} as c
        on c.server = j.server
        and c.not_before <= cast(j.dt as timestamptz)
        and c.not_after >= cast(j.dt as timestamptz) + interval 1 day
        and (c.revoked_at is null or c.revoked_at >= cast(j.dt as timestamptz) + interval 1 day)
),

anomalies as (
    select
        j.*,
        case
            when j.requests <= 0.05 * j.baseline_median
                 and j.baseline_median >= {{ var('volume_drop_floor', 20) }}
                 and c.server is not null
                then 'drop'
            when j.requests >= 4 * j.baseline_median
                 and j.requests > j.baseline_median + 8 * greatest(1.4826 * j.baseline_mad, 1)
                 and j.requests - j.baseline_median >= {{ var('volume_jump_floor', 100) }}
                then 'jump'
        end as direction
    from judged as j
    left join covered as c using (server, dt)
    where j.baseline_days >= {{ var('volume_min_baseline_days', 7) }}
)

select
    md5('volume_anomaly|' || server || '|' || cast(dt as varchar) || '|' || direction) as alert_key,
    'volume_anomaly' as detector,
    case when direction = 'drop' then 'high' else 'medium' end as severity,
    cast(dt as timestamptz) as first_seen,
    cast(dt as timestamptz) + interval 1 day as last_seen,
    cast(null as varchar) as client_ip,
    server,
    cast(null as varchar) as serial,
    cast(null as varchar) as issuer,
    requests as count,
    json_object(
        'why', case when direction = 'drop'
            then 'validations of this server dropped to (almost) nothing for a whole day'
            else 'validations of this server jumped far above its baseline for a day' end,
        'direction', direction,
        'day', cast(dt as varchar),
        'requests', requests,
        'baseline_median', baseline_median,
        'baseline_mad', baseline_mad,
        'baseline_days', baseline_days
    )::varchar as evidence
from anomalies
where direction is not null
