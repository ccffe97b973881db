-- One row per UTC day, client and certificate for the validations that should not
-- happen: a certificate the inventory does not know, one validated on or after its
-- revocation day, or after its notAfter day. A small slice of fact_validation_daily,
-- so the cyber pages and reports read it instantly; rebuilt whole each build, because
-- a revocation or a late certificate changes the judgement of past days.
with suspect as (
    select certificate_key, not_after, revoked_at
    from {{ ref('dim_certificate') }}
    where revoked_at is not null
       or not_after::date < (select max(dt) from {{ ref('fact_validation_daily') }})
),

judged as (
    select
        v.dt,
        case
            when not v.certificate_known then 'unknown'
            when d.revoked_at is not null and v.dt >= d.revoked_at::date then 'revoked'
            when v.dt > d.not_after::date then 'expired'
        end as risk,
        v.client_ip,
        v.certificate_key,
        v.issuer_key_sha1,
        v.issuer_key_hash,
        v.serial,
        v.server,
        v.requests,
        v.first_seen,
        v.last_seen
    from {{ ref('fact_validation_daily') }} as v
    left join suspect as d on v.certificate_key = d.certificate_key
    where v.certificate_key <> '(none)'
      and (not v.certificate_known or d.certificate_key is not null)
)

select * from judged where risk is not null
