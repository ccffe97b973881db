-- One row per UTC day, client zone and server zone: how much validation traffic crosses
-- between parts of the network. Small (days x zones x zones), so the zone-to-zone matrix
-- of the dashboards and reports reads it instantly instead of folding millions of
-- client-day rows on every view. Staplers are left out, as in client_server_edges.
select
    r.dt,
    coalesce(cz.zone, 'unlisted') as client_zone,
    coalesce(s.zone, 'unknown') as server_zone,
    sum(r.requests) as requests,
    count(distinct r.client_ip) as clients,
    count(distinct r.server) as servers,
    count(*) as client_server_pairs
from {{ ref('int_reliance_daily') }} as r
left join {{ ref('int_address_zones') }} as cz on r.client_ip = cz.address
left join {{ ref('int_server_zones') }} as s on r.server = s.server
group by r.dt, coalesce(cz.zone, 'unlisted'), coalesce(s.zone, 'unknown')
