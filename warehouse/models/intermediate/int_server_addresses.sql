-- Addresses a server is known to have: the IP addresses its certificates name.
select distinct
    c.server,
    unnest(c.ip_addresses) as address
from {{ ref('int_certificates') }} as c
where c.server is not null and len(c.ip_addresses) > 0
