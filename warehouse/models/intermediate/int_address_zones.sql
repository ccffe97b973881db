-- Every address the warehouse knows (clients of any service, server addresses) placed in
-- the network table: the longest matching prefix wins; no match is zone 'unlisted'.
with addresses as (
    select distinct client_ip as address from {{ ref('fact_validation_daily') }}
    union
    select distinct client_ip from {{ ref('fact_crl_fetches_daily') }}
    union
    select distinct client_ip from {{ ref('fact_downloads_daily') }}
    union
    select distinct address from {{ ref('int_server_addresses') }}
),

keyed as (
    select address, certsight_ip_key(address) as address_key
    from addresses
    where address is not null
),

matches as (
    select
        k.address,
        n.cidr,
        n.zone,
        n.site,
        n.owner,
        row_number() over (partition by k.address order by n.prefix_length desc, n.cidr) as rank
    from keyed as k
    inner join {{ ref('stg_networks') }} as n
        on k.address_key between n.range_start and n.range_end
)

select
    k.address,
    m.cidr as network,
    coalesce(m.zone, 'unlisted') as zone,
    m.site,
    m.owner
from keyed as k
left join matches as m on k.address = m.address and m.rank = 1
