-- A certificate is validated after its notAfter: a forgotten server still presents it, or a
-- clock or a cache is badly wrong somewhere.
with per_certificate as (
    {{ validated_after(ref('dim_certificate'), 'not_after', var('expiry_grace_minutes', 60)) }}
)

select
    md5('expired_certificate_validated|' || c.issuer_key_sha1 || '|' || c.serial) as alert_key,
    'expired_certificate_validated' as detector,
    'high' as severity,
    p.first_seen,
    p.last_seen,
    p.top_client as client_ip,
    c.server,
    c.serial,
    c.issuer_key_sha1 as issuer,
    p.requests as count,
    json_object(
        'why', 'validated after the certificate expired',
        'not_after', cast(c.not_after as varchar),
        'clients', p.clients,
        'sample_clients', p.sample_clients,
        'requests_on_days_after_expiry', p.requests,
        'last_validation', cast(p.last_seen as varchar)
    )::varchar as evidence
from per_certificate as p
inner join {{ ref('dim_certificate') }} as c using (certificate_key)
