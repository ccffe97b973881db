-- Every (hash algorithm, issuer key hash) a CertID can carry for a known CA, mapped to
-- certsight's issuer key. A CertID names its issuer by hashes of the issuer's name and key
-- under the request's algorithm, so SHA-1 and SHA-256 requests land on the same CA here.
with hashes as (
    select issuer_key_sha1, 'sha1' as hash_algorithm, name_sha1 as name_hash, issuer_key_sha1 as key_hash
    from {{ ref('stg_issuers') }}
    union all
    select issuer_key_sha1, 'sha256', name_sha256, key_sha256
    from {{ ref('stg_issuers') }}
    where key_sha256 is not null
)
select
    hash_algorithm,
    key_hash,
    min(issuer_key_sha1) as issuer_key_sha1,
    list_sort(list_distinct(list(name_hash))) as name_hashes
from hashes
where key_hash is not null
group by hash_algorithm, key_hash
