-- A certificate is validated after its revocation: someone still presents it (a stolen key,
-- or a server never fixed). A short grace (var revocation_grace_minutes) lets clients that
-- were mid-handshake at the switch finish.
with revoked as (
    select *
    from {{ ref('dim_certificate') }}
    where revoked_at is not null
),

per_certificate as (
    {{ validated_after('revoked', 'revoked_at', var('revocation_grace_minutes', 60)) }}
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
