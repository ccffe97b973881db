-- The zone a server sits in, from its own addresses (IP SANs, or the address it staples
-- from). Servers whose address the warehouse never learns have no zone.
with addresses as (
    select server, address from {{ ref('int_server_addresses') }}
    union
    select server, client_ip from {{ ref('int_staplers') }}
)

select
    a.server,
    min(z.zone) as zone,
    min(z.site) as site,
    min(z.owner) as owner,
    list_sort(list_distinct(list(a.address))) as addresses
from addresses as a
left join {{ ref('int_address_zones') }} as z on a.address = z.address
group by a.server
