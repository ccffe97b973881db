-- A certificate is validated after its notAfter: a forgotten server still presents it, or a
-- clock or a cache is badly wrong somewhere.
with after as (
    select
        c.certificate_key,
        f.client_ip,
        sum(f.requests) as requests,
        min(greatest(f.first_seen, c.not_after)) as first_seen,
        max(f.last_seen) as last_seen
    from {{ ref('fact_validation_daily') }} as f
    inner join {{ ref('dim_certificate') }} as c using (certificate_key)
    where c.not_after is not null
      and f.last_seen > c.not_after + to_minutes({{ var('expiry_grace_minutes', 60) }})
    group by c.certificate_key, f.client_ip
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
