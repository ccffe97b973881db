select
    dt,
    cast(event_time as timestamptz) as event_time,
    request_id,
    source,
    client_ip,
    user_agent,
    cast(http_status as integer) as http_status,
    path,
    kind,
    name,
    version,
    channel,
    cast(bytes as bigint) as bytes,
    source_object
from {{ source('lake', 'artifact_downloads') }}
