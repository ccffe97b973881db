-- One row per UTC day, client, CA, channel (ocsp, crl) and client software (family and
-- version of the User-Agent): which client software relies on which CA, for the PKI
-- team's CA footprint by client type. OCSP requests name the CA in their CertID; a CRL
-- fetch names its CRL, whose CA is known from the CRLs served (a fetch the log could not
-- tie to a CA takes the CA other fetches of the same CRL name). Traffic of an unknown
-- issuer is left out: no CA of ours to attribute it to.
with crl_issuers as (
    select crl_name, min(issuer_key_sha1) as issuer_key_sha1
    from {{ ref('fact_crl_fetches_daily') }}
    where issuer_key_sha1 is not null
    group by crl_name
),

used as (
    select dt, client_ip, issuer_key_sha1, 'ocsp' as channel, user_agent, requests
    from {{ ref('fact_validation_daily') }}
    where issuer_key_sha1 is not null
    union all
    select
        f.dt,
        f.client_ip,
        coalesce(f.issuer_key_sha1, c.issuer_key_sha1) as issuer_key_sha1,
        'crl' as channel,
        f.user_agent,
        f.fetches as requests
    from {{ ref('fact_crl_fetches_daily') }} as f
    left join crl_issuers as c using (crl_name)
    where coalesce(f.issuer_key_sha1, c.issuer_key_sha1) is not null
)

select
    dt,
    client_ip,
    issuer_key_sha1,
    channel,
    {{ client_software('user_agent') }} as client_software,
    {{ client_version('user_agent') }} as client_version,
    cast(sum(requests) as bigint) as requests
from used
group by all
