-- One row per certificate (issuer key + serial), merged from every inventory event about it:
-- an issuance event knows the profile and requester, a PEM import only the certificate.
-- Revocations apply whether or not the certificate was seen issued.
with events as (
    select
        *,
        -- facts from certsight's own issuance log outrank a bare PEM import
        case when profile is null or profile = 'imported' then 0 else 1 end as authority
    from {{ ref('stg_certificates') }}
),

merged as (
    select
        issuer_key_sha1,
        serial,
        arg_max(subject, authority) as subject,
        arg_max(sans, authority) as sans,
        min(not_before) as not_before,
        max(not_after) as not_after,
        arg_max(key_algorithm, authority) as key_algorithm,
        arg_max(profile, authority) as profile,
        arg_max(requester, authority) as requester,
        arg_max(ca_backend, authority) as ca_backend,
        min(issued_at) as issued_at
    from events
    group by issuer_key_sha1, serial
),

revoked as (
    select
        issuer_key_sha1,
        serial,
        min(revoked_at) as revoked_at,
        arg_min(revocation_reason, revoked_at) as revocation_reason
    from {{ ref('stg_revocations') }}
    group by issuer_key_sha1, serial
),

ca_subjects as (
    select distinct subject from {{ ref('stg_issuers') }}
),

named as (
    select
        m.*,
        -- the host a certificate serves: its first DNS name, else its CN. CA and OCSP
        -- signer certificates serve no host.
        case
            when m.subject in (select subject from ca_subjects) then null
            when coalesce(m.profile, '') in ('root-ca', 'sub-ca', 'issuing-ca', 'ca', 'ocsp-signer') then null
            else lower(coalesce(
                list_filter(m.sans, lambda s: not regexp_matches(s, '^[0-9.]+$|:'))[1],
                regexp_extract(m.subject, '(?:^|,)CN=([^,]+)', 1)
            ))
        end as server,
        list_filter(m.sans, lambda s: regexp_matches(s, '^[0-9.]+$|:')) as ip_addresses
    from merged as m
)

select
    n.issuer_key_sha1 || ':' || n.serial as certificate_key,
    n.*,
    r.revoked_at,
    r.revocation_reason
from named as n
left join revoked as r using (issuer_key_sha1, serial)

union all

-- revoked serials never seen issued (a CRL entry for a certificate outside the inventory)
select
    r.issuer_key_sha1 || ':' || r.serial,
    r.issuer_key_sha1, r.serial,
    null, null, null, null, null, null, null, null, null,
    null, null,
    r.revoked_at, r.revocation_reason
from revoked as r
anti join merged as m using (issuer_key_sha1, serial)
