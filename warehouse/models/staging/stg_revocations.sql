select
    lower(issuer_key_sha1) as issuer_key_sha1,
    lower(serial) as serial,
    cast(revoked_at as timestamptz) as revoked_at,
    revocation_reason,
    source,
    source_object
from {{ source('lake', 'revocations') }}
