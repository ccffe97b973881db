-- A server's validations drop to nothing, or jump far outside its baseline, over a whole
-- UTC day. Daily totals absorb the diurnal swing. Drops know the week: people go quiet on
-- weekends (var weekend_days, ISO weekdays) and holidays (var holidays, dates), machines do
-- not. Each client is people or machine by its own rhythm (its quiet-day load below var
-- volume_people_quiet_ratio of its working-day load: people), and each server's traffic is
-- judged three times (its people clients, its machine clients, all): against the same kind
-- of day (working or quiet) over the previous var volume_baseline_days days. A drop that
-- the same weekday showed in at least half of the previous var volume_rhythm_weeks weeks is
-- the server's own weekly rhythm, not news; neither is a drop on a day the server had no
-- valid certificate. Jumps are judged on all traffic against every previous day.
{%- set days = var('volume_baseline_days') %}
{%- set holidays = var('holidays', []) %}
{%- set weekend = var('weekend_days', [6, 7]) %}
{%- set rhythm_weeks = var('volume_rhythm_weeks', 4) %}
{#- bad settings fail the build with a message naming them, not with a SQL error -#}
{%- for day in weekend %}
  {%- if day not in [1, 2, 3, 4, 5, 6, 7] %}
    {{- exceptions.raise_compiler_error("var weekend_days: ISO weekdays 1 (Monday) to 7 (Sunday) expected, got " ~ day) }}
  {%- endif %}
{%- endfor %}
{%- for day in holidays %}
  {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', day | string) %}
    {{- exceptions.raise_compiler_error("var holidays: dates YYYY-MM-DD expected, got " ~ day) }}
  {%- endif %}
{%- endfor %}
with window_ as (
    select * from {{ ref('int_data_window') }}
),

reliance as (
    select dt, client_ip, server, requests
    from {{ ref('int_reliance_daily') }}
),

days as (
    select cast(c.day as date) as dt
    from (select min(dt) as first_dt from reliance) as r
    cross join window_ as w
    cross join lateral (
        select unnest(generate_series(cast(r.first_dt as timestamp), cast(w.last_complete_day as timestamp), interval 1 day)) as day
    ) as c
),

calendar as (
    -- every complete day of the traffic, working or quiet
    select
        dt,
        holiday,
        holiday or isodow(dt) in ({{ weekend | join(', ') }}) as quiet
    from (
        select
            dt,
            list_contains(
                cast([{% for day in holidays %}'{{ day }}'{% if not loop.last %}, {% endif %}{% endfor %}] as date[]), dt
            ) as holiday
        from days
    )
),

client_load as (
    select
        r.client_ip,
        min(r.dt) as first_dt,
        sum(r.requests) filter (where not d.quiet) as working_requests,
        sum(r.requests) filter (where d.quiet) as quiet_requests
    from reliance as r
    inner join calendar as d using (dt)
    group by r.client_ip
),

days_left as (
    -- from each day to the last complete one: how many working and quiet days
    select
        dt,
        sum(case when quiet then 0 else 1 end) over rest as working_days,
        sum(case when quiet then 1 else 0 end) over rest as quiet_days
    from calendar
    window rest as (order by dt rows between current row and unbounded following)
),

client_rhythm as (
    -- people: on quiet days a client does less than volume_people_quiet_ratio of a
    -- working day's load; a client yet to see both kinds of day counts as a machine
    select
        l.client_ip,
        case
            when d.working_days > 0
                 and d.quiet_days > 0
                 and coalesce(l.quiet_requests, 0) / d.quiet_days
                     < {{ var('volume_people_quiet_ratio', 0.5) }} * coalesce(l.working_requests, 0) / d.working_days
                then 'people'
            else 'machine'
        end as part
    from client_load as l
    inner join days_left as d on d.dt = l.first_dt
),

daily as (
    select r.server, c.part, r.dt, sum(r.requests) as requests
    from reliance as r
    inner join client_rhythm as c using (client_ip)
    group by r.server, c.part, r.dt
    union all
    select server, 'all' as part, dt, sum(requests) as requests
    from reliance
    group by server, dt
),

span as (
    select server, part, min(dt) as first_dt
    from daily
    group by server, part
),

series as (
    select s.server, s.part, d.dt, d.quiet, d.holiday, coalesce(x.requests, 0) as requests
    from span as s
    inner join calendar as d on d.dt >= s.first_dt
    left join daily as x using (server, part, dt)
),

judged as (
    select
        server,
        part,
        dt,
        quiet,
        holiday,
        requests,
        count(*) over history as baseline_days,
        median(requests) over history as baseline_median,
        mad(requests) over history as baseline_mad,
        count(*) over same_kind as kind_days,
        median(requests) over same_kind as kind_median,
        [{% for week in range(1, rhythm_weeks + 1) %}lag(requests, {{ 7 * week }}) over by_day{% if not loop.last %}, {% endif %}{% endfor %}] as same_weekday
    from series
    window
        history as (partition by server, part order by dt rows between {{ days }} preceding and 1 preceding),
        same_kind as (partition by server, part, quiet order by dt range between interval {{ days }} day preceding and interval 1 day preceding),
        by_day as (partition by server, part order by dt)
),

covered as (
    -- days on which the server had a certificate that was neither expired nor revoked
    select distinct j.server, j.dt
    from (select distinct server, dt from judged) as j
    inner join {{ ref('dim_certificate') }} as c
        on c.server = j.server
        and c.not_before <= cast(j.dt as timestamptz)
        and c.not_after >= cast(j.dt as timestamptz) + interval 1 day
        and (c.revoked_at is null or c.revoked_at >= cast(j.dt as timestamptz) + interval 1 day)
),

drops as (
    select j.*
    from judged as j
    inner join covered as c using (server, dt)
    where j.baseline_days >= {{ var('volume_min_baseline_days', 7) }}
      and j.kind_days >= 2
      and j.kind_median >= {{ var('volume_drop_floor', 20) }}
      and j.requests <= 0.05 * j.kind_median
      -- the server's weekly rhythm: the same weekday was as quiet in at least half of the
      -- previous weeks seen
      and not (
          len(list_filter(j.same_weekday, lambda x: x is not null)) > 0
          and 2 * len(list_filter(j.same_weekday, lambda x: x <= 0.05 * j.kind_median))
              >= len(list_filter(j.same_weekday, lambda x: x is not null))
      )
),

totals as (
    select * from judged where part = 'all'
),

findings as (
    select
        t.server,
        t.dt,
        'drop' as direction,
        t.requests,
        t.quiet,
        t.holiday,
        t.baseline_median,
        t.baseline_mad,
        t.baseline_days,
        list(
            json_object(
                'part', d.part,
                'requests', d.requests,
                'kind_median', d.kind_median,
                'kind_days', d.kind_days,
                'same_weekday_before', d.same_weekday
            ) order by d.part
        ) as parts
    from drops as d
    inner join totals as t using (server, dt)
    group by all
    union all
    select
        server,
        dt,
        'jump' as direction,
        requests,
        quiet,
        holiday,
        baseline_median,
        baseline_mad,
        baseline_days,
        cast([] as json[]) as parts
    from totals
    where baseline_days >= {{ var('volume_min_baseline_days', 7) }}
      and requests >= 4 * baseline_median
      and requests > baseline_median + 8 * greatest(1.4826 * baseline_mad, 1)
      and requests - baseline_median >= {{ var('volume_jump_floor', 100) }}
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
            then 'validations of this server (or of its people or machine clients) dropped to (almost) nothing '
                || 'for a whole day, against the same kind of day and unlike the same weekday in previous weeks'
            else 'validations of this server jumped far above its baseline for a day' end,
        'direction', direction,
        'day', cast(dt as varchar),
        'quiet_day', quiet,
        'holiday', holiday,
        'requests', requests,
        'dropped', parts,
        'baseline_median', baseline_median,
        'baseline_mad', baseline_mad,
        'baseline_days', baseline_days
    )::varchar as evidence
from findings
