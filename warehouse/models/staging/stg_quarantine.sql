select
    source,
    source_object,
    line,
    raw,
    reason,
    cast(ingested_at as timestamptz) as ingested_at
from {{ source('lake', 'quarantine') }}
