-- One row per server (host): its certificates across renewals, where it sits, and who
-- relies on it.
with chain as (
    select
        server,
        count(*) as certificates,
        min(issued_at) as first_issued_at,
        arg_max(certificate_key, not_before) as current_certificate_key,
        arg_max(serial, not_before) as current_serial,
        arg_max(issuer_key_sha1, not_before) as current_issuer_key_sha1,
        max(not_after) as valid_until,
        count(*) filter (where revoked_at is not null) as certificates_revoked
    from {{ ref('int_certificates') }}
    where server is not null
    group by server
),

reliance as (
    select
        server,
        count(*) as clients,
        count(distinct client_zone) as client_zones,
        sum(requests) as requests,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen
    from {{ ref('client_server_edges') }}
    group by server
),

staples as (
    select server, list_sort(list(distinct client_ip)) as stapler_addresses
    from {{ ref('int_staplers') }}
    group by server
)

select
    c.server,
    z.zone,
    z.site,
    z.owner,
    z.addresses,
    c.certificates,
    c.first_issued_at,
    c.current_certificate_key,
    c.current_serial,
    c.current_issuer_key_sha1,
    c.valid_until,
    c.certificates_revoked,
    st.server is not null as is_stapled,
    st.stapler_addresses,
    coalesce(r.clients, 0) as clients,
    coalesce(r.client_zones, 0) as client_zones,
    coalesce(r.requests, 0) as requests,
    r.first_seen,
    r.last_seen
from chain as c
left join {{ ref('int_server_zones') }} as z using (server)
left join reliance as r using (server)
left join staples as st using (server)
