select
    dt,
    cast(event_time as timestamptz) as event_time,
    request_id,
    cf_request_id,
    source,
    client_ip,
    user_agent,
    cast(http_status as integer) as http_status,
    path,
    crl_name,
    lower(issuer_key_sha1) as issuer_key_sha1,
    cast(crl_number as bigint) as crl_number,
    cast(bytes as bigint) as bytes,
    coalesce(cache_hit, false) as cache_hit,
    cast(latency_ms as double) as latency_ms,
    source_object
from {{ source('lake', 'crl_fetches') }}
