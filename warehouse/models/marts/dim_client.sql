-- One row per client address that used any service: where it sits (zone, site, owner from
-- the network table), what software it runs, and how much it relies on the PKI.
with activity as (
    select client_ip, user_agent, requests, first_seen, last_seen, dt
    from {{ ref('fact_validation_daily') }}
    union all
    select client_ip, user_agent, fetches, first_seen, last_seen, dt
    from {{ ref('fact_crl_fetches_daily') }}
    union all
    select client_ip, user_agent, downloads, first_seen, last_seen, dt
    from {{ ref('fact_downloads_daily') }}
),

agents as (
    select client_ip, user_agent, sum(requests) as requests
    from activity
    group by client_ip, user_agent
),

per_client as (
    select
        client_ip,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        count(distinct dt) as days_active
    from activity
    group by client_ip
),

ocsp as (
    select client_ip, sum(requests) as ocsp_requests
    from {{ ref('fact_validation_daily') }}
    group by client_ip
),

crl as (
    select client_ip, sum(fetches) as crl_fetches
    from {{ ref('fact_crl_fetches_daily') }}
    group by client_ip
),

downloads as (
    select client_ip, sum(downloads) as downloads
    from {{ ref('fact_downloads_daily') }}
    group by client_ip
),

edges as (
    select client_ip, count(*) as servers
    from {{ ref('client_server_edges') }}
    group by client_ip
),

staples as (
    select client_ip, min(server) as stapler_for
    from {{ ref('int_staplers') }}
    group by client_ip
)

select
    p.client_ip,
    z.zone,
    z.site,
    z.owner,
    z.network,
    a.user_agent,
    {{ client_software('a.user_agent') }} as client_software,
    p.first_seen,
    p.last_seen,
    p.days_active,
    coalesce(o.ocsp_requests, 0) as ocsp_requests,
    coalesce(c.crl_fetches, 0) as crl_fetches,
    coalesce(d.downloads, 0) as downloads,
    coalesce(e.servers, 0) as servers,
    s.client_ip is not null as is_stapler,
    s.stapler_for
from per_client as p
left join (
    select client_ip, arg_max(user_agent, requests) as user_agent
    from agents
    group by client_ip
) as a using (client_ip)
left join {{ ref('int_address_zones') }} as z on p.client_ip = z.address
left join ocsp as o using (client_ip)
left join crl as c using (client_ip)
left join downloads as d using (client_ip)
left join edges as e using (client_ip)
left join staples as s using (client_ip)
where p.client_ip is not null
