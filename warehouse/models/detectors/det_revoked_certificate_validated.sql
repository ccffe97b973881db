-- A certificate is validated after its revocation: someone still presents it (a stolen key,
-- or a server never fixed). A short grace (var revocation_grace_minutes) lets clients that
-- were mid-handshake at the switch finish.
with revoked as (
    select *
    from {{ ref('dim_certificate') }}
    where revoked_at is not null
),

after as (
    select
        r.certificate_key,
        f.client_ip,
        sum(f.requests) as requests,
        min(greatest(f.first_seen, r.revoked_at)) as first_seen,
        max(f.last_seen) as last_seen
    from {{ ref('fact_validation_daily') }} as f
    inner join revoked as r using (certificate_key)
    where f.last_seen > r.revoked_at + to_minutes({{ var('revocation_grace_minutes', 60) }})
    group by r.certificate_key, f.client_ip
),

per_certificate as (
    select
        certificate_key,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        sum(requests) as requests,
        count(*) as clients,
        arg_max(client_ip, requests) as top_client,
        list(client_ip order by requests desc, client_ip)[1:10] as sample_clients
    from after
    group by certificate_key
)

select
    md5('revoked_certificate_validated|' || r.issuer_key_sha1 || '|' || r.serial) as alert_key,
    'revoked_certificate_validated' as detector,
    case
        when r.revocation_reason in ('keyCompromise', 'cACompromise', 'aACompromise', 'key_compromise', 'ca_compromise')
            then 'critical'
        else 'high'
    end as severity,
    p.first_seen,
    p.last_seen,
    p.top_client as client_ip,
    r.server,
    r.serial,
    r.issuer_key_sha1 as issuer,
    p.requests as count,
    json_object(
        'why', 'validated after its revocation time',
        'revoked_at', cast(r.revoked_at as varchar),
        'revocation_reason', r.revocation_reason,
        'clients', p.clients,
        'sample_clients', p.sample_clients,
        'requests_on_days_after_revocation', p.requests,
        'last_validation', cast(p.last_seen as varchar)
    )::varchar as evidence
from per_certificate as p
inner join revoked as r using (certificate_key)
