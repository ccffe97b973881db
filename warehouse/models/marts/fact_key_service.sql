-- One row per certificate issued for a server: how long its private key stayed in
-- service and, for a renewal, how long its deployment lagged. Every certificate brings a
-- new key, so a key is in service from its certificate's issuance to the last validation
-- of that certificate (the last moment a client saw a server present it); a key stolen at
-- a random moment of that span stays useful for half of it on average, which is the
-- exposure management compares with monthly renewal's two weeks.
with validations as (
    select
        certificate_key,
        min(first_seen) as first_validated,
        max(last_seen) as last_validated,
        sum(requests) as requests
    from {{ ref('fact_validation_daily') }}
    where certificate_known
    group by certificate_key
),

traffic as (
    select first_event, last_event from {{ ref('int_data_window') }}
),

chain as (
    select
        i.*,
        s.certificate_key as successor_key,
        s.issued_at as successor_issued_at
    from {{ ref('fact_issuance') }} as i
    left join {{ ref('fact_issuance') }} as s on s.previous_certificate_key = i.certificate_key
    where i.server is not null
)

select
    c.certificate_key,
    c.issuer_key_sha1,
    c.serial,
    c.server,
    c.profile,
    c.key_algorithm,
    c.issued_at,
    c.not_after,
    c.revoked_at,
    c.is_renewal,
    c.previous_certificate_key,
    c.successor_key,
    v.first_validated,
    v.last_validated,
    coalesce(v.requests, 0) as requests,
    -- its key's life is over: a successor was issued, or it expired or was revoked, by the
    -- newest traffic (a key whose server still presents it after that is in service still,
    -- and its service so far is a lower bound)
    coalesce(
        c.successor_issued_at <= t.last_event
        or c.not_after <= t.last_event
        or c.revoked_at <= t.last_event,
        false
    ) as retired,
    case when v.last_validated is not null
        then round(greatest(date_diff('second', c.issued_at, v.last_validated), 0) / 86400.0, 2)
    end as service_days,
    -- a renewal's lag is only known when it was issued while traffic was recorded: for an
    -- earlier one the first validation seen is the start of the data, not its deployment
    c.is_renewal and c.issued_at >= t.first_event as lag_observable,
    case when c.is_renewal and c.issued_at >= t.first_event and v.first_validated is not null
        then round(greatest(date_diff('second', c.issued_at, v.first_validated), 0) / 3600.0, 2)
    end as deployment_lag_hours
from chain as c
cross join traffic as t
left join validations as v using (certificate_key)
