select
    lower(issuer_key_sha1) as issuer_key_sha1,
    lower(serial) as serial,
    subject,
    sans,
    cast(not_before as timestamptz) as not_before,
    cast(not_after as timestamptz) as not_after,
    key_algorithm,
    profile,
    requester,
    ca_backend,
    cast(issued_at as timestamptz) as issued_at,
    source,
    source_object
from {{ source('lake', 'certificates') }}
