-- One row per CertID in an OCSP request, typed; nothing else. `dt` stays as read so that
-- filters on it prune Hive partitions.
select
    dt,
    cast(event_time as timestamptz) as event_time,
    request_id,
    cf_request_id,
    source,
    client_ip,
    user_agent,
    upper(http_method) as http_method,
    cast(http_status as integer) as http_status,
    response_status,
    cert_status,
    lower(hash_algorithm) as hash_algorithm,
    lower(issuer_name_hash) as issuer_name_hash,
    lower(issuer_key_hash) as issuer_key_hash,
    lower(issuer_key_sha1) as issuer_key_sha1,
    lower(serial) as serial,
    coalesce(nonce, false) as nonce,
    coalesce(cache_hit, false) as cache_hit,
    cast(latency_ms as double) as latency_ms,
    cast(origin_latency_ms as double) as origin_latency_ms,
    cast(response_bytes as bigint) as response_bytes,
    source_object
from {{ source('lake', 'ocsp_requests') }}
