-- One row per certificate (issuer key + serial), with its status as of the newest traffic.
with validations as (
    select
        certificate_key,
        sum(requests) as requests,
        count(distinct client_ip) as clients,
        min(first_seen) as first_validated,
        max(last_seen) as last_validated
    from {{ ref('fact_validation_daily') }}
    where certificate_known
    group by certificate_key
),

as_of as (
    select coalesce(
        (select last_event from {{ ref('int_data_window') }}),
        (select max(issued_at) from {{ ref('int_certificates') }})
    ) as at
)

select
    c.certificate_key,
    c.issuer_key_sha1,
    c.serial,
    c.server,
    c.subject,
    c.sans,
    c.ip_addresses,
    c.not_before,
    c.not_after,
    round(date_diff('second', c.not_before, c.not_after) / 86400.0, 2) as validity_days,
    c.key_algorithm,
    c.profile,
    c.requester,
    c.ca_backend,
    c.issued_at,
    c.issued_at is not null as in_inventory,
    c.revoked_at,
    c.revocation_reason,
    case
        when c.revoked_at is not null and c.revoked_at <= a.at then 'revoked'
        when c.not_after < a.at then 'expired'
        when c.not_before > a.at then 'not_yet_valid'
        when c.not_after is null then 'unknown'
        else 'valid'
    end as status,
    a.at as status_as_of,
    i.subject as issuer_subject,
    coalesce(v.requests, 0) as requests,
    coalesce(v.clients, 0) as clients,
    v.first_validated,
    v.last_validated
from {{ ref('int_certificates') }} as c
cross join as_of as a
left join {{ ref('dim_issuer') }} as i using (issuer_key_sha1)
left join validations as v using (certificate_key)
