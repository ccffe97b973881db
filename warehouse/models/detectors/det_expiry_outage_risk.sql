-- A certificate clients still rely on will expire before anyone renews it: an outage
-- forecast. Judged as of the newest traffic (int_data_window.last_event, never the wall
-- clock), for certificates that
--   * are past their renewal point (var renewal_fraction of their life) by a margin
--     (var renewal_margin_fraction of their life) and expire within var expiry_horizon_days;
--   * were validated in the last var in_service_days (the clients that will break);
--   * have no successor, or successors no client has validated yet.
-- A certificate whose renewal is not due yet, or whose successor is deployed (even on part
-- of a pool: renewal_not_deployed's case), is not a finding. A forecast clears when it
-- stops holding; at notAfter it hands over to expired_certificate_validated.
{%- set fraction = var('renewal_fraction') %}
{%- set margin = var('renewal_margin_fraction') %}
{%- set horizon = var('expiry_horizon_days') %}
{%- set in_service = var('in_service_days') %}
{%- set high_days = var('expiry_high_days') %}
{%- set critical_days = var('expiry_critical_days') %}
with now_ as (
    select last_event as at from {{ ref('int_data_window') }}
),

certificates as (
    select
        c.*,
        w.at as now_at,
        c.not_before + (c.not_after - c.not_before) * {{ fraction }} as renewal_point,
        c.not_before + (c.not_after - c.not_before) * ({{ fraction }} + {{ margin }}) as overdue_at
    from ({{ with_successor() }}) as c
    cross join now_ as w
    where c.not_after > w.at
      and (c.revoked_at is null or c.revoked_at > w.at)
),

due as (
    -- overdue and expiring soon: at risk since the later of the two moments
    select
        *,
        greatest(overdue_at, not_after - {{ horizon }} * interval 1 day) as at_risk_from
    from certificates
    where now_at >= overdue_at
      and not_after <= now_at + {{ horizon }} * interval 1 day
),

deployed as (
    -- a successor (or a later certificate of the server) some client validates
    select distinct replaced_key as certificate_key
    from ({{ replacement_validations('due') }})
),

at_risk as (
    select * from due
    anti join deployed using (certificate_key)
),

by_client as (
    select
        r.certificate_key,
        f.client_ip,
        sum({{ requests_after('f', 'r.at_risk_from') }}) as requests,
        min(greatest(f.first_seen, r.at_risk_from)) as first_seen,
        max(f.last_seen) as last_seen
    from at_risk as r
    inner join {{ ref('fact_validation_daily') }} as f on f.certificate_key = r.certificate_key
    where f.last_seen > r.at_risk_from
    group by r.certificate_key, f.client_ip
),

clients as (
    -- the clients that will break: those that validated it since it has been at risk
    select b.*, coalesce(z.zone, 'unlisted') as zone
    from by_client as b
    left join {{ ref('int_address_zones') }} as z on z.address = b.client_ip
),

per_certificate as (
    select
        certificate_key,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        sum(requests) as requests,
        count(*) as clients,
        arg_max(client_ip, requests) as top_client,
        list(
            struct_pack(
                client_ip := client_ip,
                zone := zone,
                requests := requests,
                last_seen := cast(last_seen as varchar)
            )
            order by requests desc, client_ip
        )[1:20] as sample_clients
    from clients
    group by certificate_key
),

per_zone as (
    select
        certificate_key,
        list(struct_pack(zone := zone, clients := clients) order by clients desc, zone) as by_zone
    from (select certificate_key, zone, count(*) as clients from clients group by all)
    group by certificate_key
),

judged as (
    select
        r.*,
        p.first_seen,
        p.last_seen,
        p.requests,
        p.clients,
        p.top_client,
        p.sample_clients,
        z.by_zone,
        epoch(r.not_after - r.now_at) / 86400 as days_left
    from at_risk as r
    inner join per_certificate as p using (certificate_key)
    inner join per_zone as z using (certificate_key)
    -- still in service: validated lately, not only some time since the risk began
    where p.last_seen >= r.now_at - {{ in_service }} * interval 1 day
)

select
    md5('expiry_outage_risk|' || j.issuer_key_sha1 || '|' || j.serial) as alert_key,
    'expiry_outage_risk' as detector,
    case
        when j.days_left <= {{ critical_days }} then 'critical'
        when j.days_left <= {{ high_days }} then 'high'
        else 'medium'
    end as severity,
    j.first_seen,
    j.last_seen,
    j.top_client as client_ip,
    j.server,
    j.serial,
    j.issuer_key_sha1 as issuer,
    j.requests as count,
    json_object(
        'why', case when j.successor_key is null
            then 'expires soon, past its renewal point, no successor issued, clients still validate it'
            else 'expires soon, past its renewal point, its successor is validated by no client yet' end,
        'names', d.sans,
        'not_before', cast(j.not_before as varchar),
        'not_after', cast(j.not_after as varchar),
        'days_left', round(j.days_left, 2),
        'renewal_point', cast(j.renewal_point as varchar),
        'overdue_since', cast(j.overdue_at as varchar),
        'successor_serial', j.successor_serial,
        'successor_issued_at', cast(j.successor_issued_at as varchar),
        'clients', j.clients,
        'clients_by_zone', j.by_zone,
        'clients_that_will_break', j.sample_clients,
        'requests_since_at_risk', j.requests,
        'at_risk_since', cast(j.at_risk_from as varchar),
        'last_validation', cast(j.last_seen as varchar),
        'as_of', cast(j.now_at as varchar),
        'horizon_days', {{ horizon }},
        'in_service_days', {{ in_service }}
    )::varchar as evidence
from judged as j
left join {{ ref('dim_certificate') }} as d using (certificate_key)
