-- The CIDR table: address ranges as fixed-width hex keys (IPv4 mapped into IPv6), so one
-- range comparison serves both families. Loaded and validated by `certsight build`.
select
    cidr,
    zone,
    site,
    owner,
    prefix_length,
    range_start,
    range_end
from {{ source('reference', 'networks') }}
