-- Servers fetching their own OCSP status to staple it: not clients relying on the server.
-- Recognised by address (the requester is one of the server's own addresses), or by habit:
-- a requester that only ever asks about one server, around the clock, at a steady pace.
with own_address as (
    select distinct
        d.client_ip,
        d.server,
        'own_address' as reason
    from {{ ref('int_client_server_daily') }} as d
    inner join {{ ref('int_server_addresses') }} as a
        on d.client_ip = a.address and d.server = a.server
),

per_client as (
    select
        client_ip,
        count(distinct server) as servers,
        min(server) as server,
        count(*) as days,
        median(bit_count(hours_mask)) as median_active_hours,
        sum(requests) / sum(bit_count(hours_mask)) as requests_per_active_hour
    from {{ ref('int_client_server_daily') }}
    group by client_ip
),

steady_single_server as (
    select
        client_ip,
        server,
        'steady_single_server' as reason
    from per_client
    where servers = 1
      and days >= 2
      and median_active_hours >= 20
      and requests_per_active_hour <= 6
)

select * from own_address
union all
select s.* from steady_single_server as s
anti join own_address as o using (client_ip, server)
