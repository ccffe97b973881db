-- One row per CA (issuer key).
with seen as (
    select
        issuer_key_sha1,
        arg_max(subject, not_before) as subject,
        arg_max(name_sha1, not_before) as name_sha1,
        arg_max(name_sha256, not_before) as name_sha256,
        max(key_sha256) as key_sha256,
        min(not_before) as not_before,
        max(not_after) as not_after,
        bool_or(self_signed) as self_signed
    from {{ ref('stg_issuers') }}
    group by issuer_key_sha1
),

issued as (
    select
        issuer_key_sha1,
        count(*) filter (where issued_at is not null) as certificates_issued,
        count(*) filter (where revoked_at is not null) as certificates_revoked
    from {{ ref('int_certificates') }}
    group by issuer_key_sha1
),

validated as (
    select issuer_key_sha1, sum(requests) as ocsp_requests
    from {{ ref('fact_validation_daily') }}
    where issuer_key_sha1 is not null
    group by issuer_key_sha1
)

select
    s.issuer_key_sha1,
    s.subject,
    regexp_extract(s.subject, '(?:^|,)CN=([^,]+)', 1) as common_name,
    s.name_sha1,
    s.name_sha256,
    s.key_sha256,
    s.not_before,
    s.not_after,
    s.self_signed,
    coalesce(i.certificates_issued, 0) as certificates_issued,
    coalesce(i.certificates_revoked, 0) as certificates_revoked,
    coalesce(v.ocsp_requests, 0) as ocsp_requests
from seen as s
left join issued as i using (issuer_key_sha1)
left join validated as v using (issuer_key_sha1)
