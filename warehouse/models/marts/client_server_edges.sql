-- One row per client and server: who relies on whom. A server is a host, so the edge
-- carries straight across certificate renewals. Staplers (a server fetching its own
-- status) are not clients of it and are left out.
with edges as (
    select
        client_ip,
        server,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        count(*) as days_active,
        sum(requests) as requests,
        min(user_agent) as user_agent
    from {{ ref('int_reliance_daily') }}
    group by client_ip, server
)

select
    e.client_ip,
    e.server,
    e.first_seen,
    e.last_seen,
    e.days_active,
    e.requests,
    cz.zone as client_zone,
    cz.site as client_site,
    cz.owner as client_owner,
    s.zone as server_zone,
    s.zone is not null and cz.zone <> s.zone as crosses_zone,
    {{ client_software('e.user_agent') }} as client_software
from edges as e
left join {{ ref('int_address_zones') }} as cz on e.client_ip = cz.address
left join {{ ref('int_server_zones') }} as s on e.server = s.server
