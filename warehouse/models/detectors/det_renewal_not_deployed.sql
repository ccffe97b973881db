-- A certificate was renewed, yet clients keep validating the old serial well after the
-- successor became available: the renewal was never deployed, or only on part of a pool
-- (some instances still present the old certificate). Validations of the old serial
-- within var renewal_grace_hours of the successor's notBefore (or its issuance, when later)
-- are connection reuse and caches finishing, not findings. Validations after the old
-- certificate's revocation belong to revoked_certificate_validated, not here.
-- One finding per old certificate; high when its last stale validation came within
-- var expiry_high_days of its expiry (or after it): the clients still on it break then.
{%- set grace = var('renewal_grace_hours') %}
{%- set high_days = var('expiry_high_days') %}
with now_ as (
    select last_event as at from {{ ref('int_data_window') }}
),

renewals as (
    select
        *,
        successor_available_at + {{ grace }} * interval 1 hour as deployment_due_at
    from ({{ with_successor() }})
    where successor_key is not null
),

stale_by_client as (
    -- the old serial validated after the deployment was due (and before any revocation)
    select
        r.certificate_key,
        f.client_ip,
        sum({{ requests_after('f', 'r.deployment_due_at') }}) as requests,
        min(greatest(f.first_seen, r.deployment_due_at)) as first_seen,
        max(f.last_seen) as last_seen
    from renewals as r
    inner join {{ ref('fact_validation_daily') }} as f on f.certificate_key = r.certificate_key
    where f.last_seen > r.deployment_due_at
      and (r.revoked_at is null or (r.revoked_at > r.deployment_due_at and f.first_seen < r.revoked_at))
    group by r.certificate_key, f.client_ip
),

stale as (
    select * from renewals
    where certificate_key in (select certificate_key from stale_by_client)
),

fresh_by_client as (
    -- the successor (or a later certificate) validated over the same time
    select
        v.replaced_key as certificate_key,
        v.client_ip,
        sum({{ requests_after('v', 's.deployment_due_at') }}) as requests
    from ({{ replacement_validations('stale') }}) as v
    inner join stale as s on s.certificate_key = v.replaced_key
    where v.last_seen > s.deployment_due_at
    group by v.replaced_key, v.client_ip
),

clients as (
    select
        b.certificate_key,
        b.client_ip,
        b.requests,
        b.first_seen,
        b.last_seen,
        coalesce(z.zone, 'unlisted') as zone,
        n.client_ip is not null as also_on_successor
    from stale_by_client as b
    left join {{ ref('int_address_zones') }} as z on z.address = b.client_ip
    left join fresh_by_client as n using (certificate_key, client_ip)
),

zones as (
    select certificate_key, zone, count(*) as clients
    from clients
    group by certificate_key, zone
),

per_renewal as (
    select
        c.certificate_key,
        min(c.first_seen) as first_seen,
        max(c.last_seen) as last_seen,
        sum(c.requests) as requests,
        count(*) as clients,
        count(*) filter (where c.also_on_successor) as clients_on_both,
        arg_max(c.client_ip, c.requests) as top_client,
        list(
            struct_pack(
                client_ip := c.client_ip,
                zone := c.zone,
                requests := c.requests,
                last_seen := cast(c.last_seen as varchar),
                also_on_successor := c.also_on_successor
            )
            order by c.requests desc, c.client_ip
        )[1:10] as sample_clients
    from clients as c
    group by c.certificate_key
),

per_zone as (
    select
        certificate_key,
        list(struct_pack(zone := zone, clients := clients) order by clients desc, zone) as by_zone
    from zones
    group by certificate_key
),

fresh as (
    select certificate_key, sum(requests) as requests, count(*) as clients
    from fresh_by_client
    group by certificate_key
)

select
    md5('renewal_not_deployed|' || s.issuer_key_sha1 || '|' || s.serial) as alert_key,
    'renewal_not_deployed' as detector,
    case
        when p.last_seen >= s.not_after - {{ high_days }} * interval 1 day then 'high'
        else 'medium'
    end as severity,
    p.first_seen,
    p.last_seen,
    p.top_client as client_ip,
    s.server,
    s.serial,
    s.issuer_key_sha1 as issuer,
    p.requests as count,
    json_object(
        'why', case when coalesce(n.clients, 0) = 0
            then 'renewed, but clients keep validating the old certificate and none the successor'
            else 'renewed, but part of the validations are still of the old certificate (partial deployment)' end,
        'deployment', case when coalesce(n.clients, 0) = 0 then 'none' else 'partial' end,
        'names', d.sans,
        'old_serial', s.serial,
        'old_not_after', cast(s.not_after as varchar),
        'successor_serial', s.successor_serial,
        'successor_not_before', cast(s.successor_not_before as varchar),
        'successor_issued_at', cast(s.successor_issued_at as varchar),
        'grace_hours', {{ grace }},
        'deployment_due_at', cast(s.deployment_due_at as varchar),
        'share_on_old', round(p.requests / (p.requests + coalesce(n.requests, 0)), 3),
        'old_requests_after_due', p.requests,
        'successor_requests_after_due', coalesce(n.requests, 0),
        'clients_on_old', p.clients,
        'clients_on_old_by_zone', z.by_zone,
        'clients_on_successor', coalesce(n.clients, 0),
        'clients_on_both', p.clients_on_both,
        'sample_clients_on_old', p.sample_clients,
        'last_old_validation', cast(p.last_seen as varchar),
        'days_to_expiry', round(epoch(s.not_after - w.at) / 86400, 2),
        'as_of', cast(w.at as varchar),
        'high_within_days_of_expiry', {{ high_days }}
    )::varchar as evidence
from stale as s
inner join per_renewal as p using (certificate_key)
inner join per_zone as z using (certificate_key)
left join fresh as n using (certificate_key)
left join {{ ref('dim_certificate') }} as d using (certificate_key)
cross join now_ as w
