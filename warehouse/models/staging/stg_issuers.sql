select
    lower(issuer_key_sha1) as issuer_key_sha1,
    subject,
    lower(name_sha1) as name_sha1,
    lower(name_sha256) as name_sha256,
    lower(key_sha256) as key_sha256,
    cast(not_before as timestamptz) as not_before,
    cast(not_after as timestamptz) as not_after,
    coalesce(self_signed, false) as self_signed,
    source_object
from {{ source('lake', 'issuers') }}
