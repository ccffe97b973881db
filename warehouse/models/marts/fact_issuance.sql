-- One row per certificate issued, with its place in its server's renewal chain.
-- A renewal is on time by certsight's own renewal rule (issuance/views.py): the window
-- opens at renewal_fraction of the previous certificate's life (2/3, as ACME renewal
-- information suggests) and closes halfway from there to expiry, so a renewal issued
-- with at least (1 - renewal_fraction) / 2 of that life left (a sixth) is on time; one
-- issued later but before expiry is late.
{%- set fraction = var('renewal_fraction') %}
with issued as (
    select
        *,
        lag(certificate_key) over server_chain as previous_certificate_key,
        lag(not_after) over server_chain as previous_not_after,
        lag(not_before) over server_chain as previous_not_before
    from {{ ref('int_certificates') }}
    where issued_at is not null
    window server_chain as (partition by coalesce(server, certificate_key) order by not_before, issued_at, serial)
)

select
    certificate_key,
    issuer_key_sha1,
    serial,
    server,
    issued_at,
    cast(issued_at as date) as issued_on,
    not_before,
    not_after,
    round(date_diff('second', not_before, not_after) / 86400.0, 2) as validity_days,
    key_algorithm,
    profile,
    requester,
    ca_backend,
    {{ is_automated('requester') }} as automated,
    previous_certificate_key,
    server is not null and previous_certificate_key is not null as is_renewal,
    case when previous_not_after is not null
        then round(date_diff('second', issued_at, previous_not_after) / 86400.0, 2)
    end as renewal_lead_days,
    case
        when server is null or previous_not_after is null then 'first_issue'
        when issued_at > previous_not_after then 'after_expiry'
        when date_diff('second', issued_at, previous_not_after)
            >= date_diff('second', previous_not_before, previous_not_after)
               * (1 - {{ fraction }}) / 2 then 'on_time'
        else 'late'
    end as renewal_timing,
    revoked_at,
    revocation_reason
from issued
