{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='dt',
        on_schema_change='fail',
    )
}}
-- One row per client, certificate and day: the traffic reduced to "who validated what".
-- The only model that reads every OCSP row; everything downstream reads this.
{%- set redo_days = [] -%}
{%- if is_incremental() and execute -%}
    {#- Days holding rows that were unresolved when built but resolve now (an issuer or a
        certificate reached the inventory after its traffic) are rebuilt too. -#}
    {%- set late = run_query(
        "select distinct cast(f.dt as varchar) from " ~ this ~ " as f "
        ~ "where f.serial is not null and ("
        ~ " (f.issuer_key_sha1 is null and exists (select 1 from " ~ ref('int_issuer_hashes')
        ~ "   as h where h.hash_algorithm = f.hash_algorithm and h.key_hash = f.issuer_key_hash))"
        ~ " or (f.issuer_key_sha1 is not null and not f.certificate_known and exists (select 1 from "
        ~ ref('int_certificates') ~ " as c where c.issuer_key_sha1 = f.issuer_key_sha1 and c.serial = f.serial)))"
    ) -%}
    {%- for row in late.rows -%}{%- do redo_days.append(row[0]) -%}{%- endfor -%}
{%- endif -%}
{%- set days = ((scope_days('ocsp_requests') if is_incremental() else []) + redo_days) | unique | list | sort -%}
{%- set padded = [] -%}
{%- for day in days -%}
    {%- set d = modules.datetime.date.fromisoformat(day) -%}
    {%- for offset in [-1, 0, 1] -%}
        {%- set iso = (d + modules.datetime.timedelta(days=offset)).isoformat() -%}
        {%- if iso not in padded -%}{%- do padded.append(iso) -%}{%- endif -%}
    {%- endfor -%}
{%- endfor %}

{#- the columns every kind of row keeps as logged -#}
{%- set as_logged -%}
r.dt, r.event_time, r.http_method, r.http_status, r.hash_algorithm, r.issuer_name_hash,
        r.issuer_key_hash, r.issuer_key_sha1, r.serial, r.nonce, r.cache_hit
{%- endset %}

with requests as not materialized (
    -- read once per kind of row below, never held in memory whole (not materialized)
    select
        dt, event_time, source, cf_request_id, client_ip, user_agent, http_method,
        http_status, response_status, cert_status, hash_algorithm, issuer_name_hash,
        issuer_key_hash, issuer_key_sha1, serial, nonce, cache_hit, latency_ms,
        origin_latency_ms
    from {{ ref('stg_ocsp_requests') }}
    where {% if is_incremental() %}{{ in_days(days) }}{% else %}true{% endif %}
),

-- A request that came through the CDN and reached the responder is logged twice, by
-- CloudFront and by the responder, both with CloudFront's request id: it counts once.
-- Only CDN rows that reached the responder (misses, and hits the ingest already paired)
-- and responder rows with a CDN id take part in the pairing, so the bulk of the traffic
-- (CDN hits, direct requests) is never joined. The pair can straddle midnight: the
-- neighbouring days are searched too.
origin_via_cdn as (
    -- ids are joined as 64-bit hashes: the tables hold millions of them at scale, and
    -- string keys would make them several times larger (a collision needs ~4e9 ids)
    select
        hash(cf_request_id, serial) as pair_key,
        hash(cf_request_id) as cf_key,
        serial is not null as names_certificate,
        min(response_status) as response_status,
        min(cert_status) as cert_status,
        min(latency_ms) as latency_ms
    from {{ ref('stg_ocsp_requests') }}
    where source = 'lambda' and cf_request_id is not null
      and {% if is_incremental() %}{{ in_days(padded) }}{% else %}true{% endif %}
    group by pair_key, cf_key, names_certificate
),

cdn_of_origin as (
    select
        hash(cf_request_id) as cf_key,
        bool_or(serial is not null) as names_certificate,
        -- the viewer is needed only where the CDN row gives way (no CertID in it)
        min(client_ip) filter (where serial is null) as client_ip,
        min(user_agent) filter (where serial is null) as user_agent
    from {{ ref('stg_ocsp_requests') }}
    where source <> 'lambda'
      and (not cache_hit or origin_latency_ms is not null)
      and hash(cf_request_id) in (select cf_key from origin_via_cdn)
      and {% if is_incremental() %}{{ in_days(padded) }}{% else %}true{% endif %}
    group by cf_key
),

counted as (
    -- CDN hits that never reached the responder, and direct requests: as logged
    select
        {{ as_logged }},
        r.client_ip,
        r.user_agent,
        r.response_status,
        r.cert_status,
        case when r.source = 'lambda' then r.latency_ms else r.origin_latency_ms end
            as origin_latency_ms
    from requests as r
    where (r.source <> 'lambda' and r.cache_hit and r.origin_latency_ms is null)
       or (r.source = 'lambda' and r.cf_request_id is null)

    union all

    -- CDN rows that reached the responder: they take its answer when its log arrived after
    -- theirs (the ingest joins only the other order); a POST row (the CDN logs no body)
    -- gives way to the responder's rows, which name the CertIDs
    select
        {{ as_logged }},
        r.client_ip,
        r.user_agent,
        coalesce(r.response_status, o.response_status) as response_status,
        coalesce(r.cert_status, o.cert_status) as cert_status,
        coalesce(r.origin_latency_ms, o.latency_ms) as origin_latency_ms
    from requests as r
    left join origin_via_cdn as o on hash(r.cf_request_id, r.serial) = o.pair_key
    where r.source <> 'lambda'
      and (not r.cache_hit or r.origin_latency_ms is not null)
      and not (
          r.serial is null
          and hash(r.cf_request_id) in (select cf_key from origin_via_cdn where names_certificate)
      )

    union all

    -- responder rows of CDN requests the CDN did not log, or logged without the CertIDs;
    -- the viewer's address and agent come from the CDN, which saw the client itself
    select
        {{ as_logged }},
        coalesce(c.client_ip, r.client_ip) as client_ip,
        coalesce(c.user_agent, r.user_agent) as user_agent,
        r.response_status,
        r.cert_status,
        r.latency_ms as origin_latency_ms
    from requests as r
    left join cdn_of_origin as c on hash(r.cf_request_id) = c.cf_key
    where r.source = 'lambda' and r.cf_request_id is not null
      and (c.cf_key is null or not c.names_certificate)
),

resolved as (
    -- the issuer of either CertID hash algorithm, else the responder's own resolution
    select
        q.*,
        coalesce(h.issuer_key_sha1, q.issuer_key_sha1) as resolved_issuer
    from counted as q
    left join {{ ref('int_issuer_hashes') }} as h
        on q.hash_algorithm = h.hash_algorithm and q.issuer_key_hash = h.key_hash
),

daily as (
    select
        dt,
        client_ip,
        case when serial is not null then resolved_issuer end as issuer_key_sha1,
        -- an unknown issuer is known only by its hashes as sent
        case when resolved_issuer is null and serial is not null then hash_algorithm end
            as unresolved_algorithm,
        case when resolved_issuer is null and serial is not null then issuer_key_hash end
            as unresolved_key_hash,
        serial,
        min(hash_algorithm) as first_algorithm,
        max(hash_algorithm) as last_algorithm,
        -- the hashes as sent matter only when they name no known CA
        min(case when resolved_issuer is null then issuer_name_hash end) as issuer_name_hash,
        min(case when resolved_issuer is null then issuer_key_hash end) as issuer_key_hash,
        count(*) as requests,
        min(event_time) as first_seen,
        max(event_time) as last_seen,
        bit_or({{ hour_bit('event_time') }}) as hours_mask,
        count(*) filter (where http_method = 'POST') as post_requests,
        count(*) filter (where hash_algorithm = 'sha256') as sha256_requests,
        count(*) filter (where cache_hit) as cache_hits,
        count(*) filter (where nonce) as nonce_requests,
        count(*) filter (where cert_status = 'good') as good_responses,
        count(*) filter (where cert_status = 'revoked') as revoked_responses,
        count(*) filter (where cert_status = 'unknown') as unknown_responses,
        count(*) filter (where response_status <> 'successful') as error_responses,
        count(*) filter (where http_status >= 500) as server_errors,
        sum(origin_latency_ms) as origin_latency_ms_sum,
        count(origin_latency_ms) as origin_latency_samples,
        min(user_agent) as user_agent
    from resolved
    group by all
)

select
    d.dt,
    d.client_ip,
    case
        when d.serial is null then '(none)'
        when d.issuer_key_sha1 is not null then d.issuer_key_sha1 || ':' || d.serial
        else '?' || d.unresolved_algorithm || ':' || d.unresolved_key_hash || ':' || d.serial
    end as certificate_key,
    d.issuer_key_sha1,
    d.serial,
    c.server,
    c.certificate_key is not null as certificate_known,
    case when d.first_algorithm <> d.last_algorithm then 'mixed' else d.first_algorithm end
        as hash_algorithm,
    d.issuer_name_hash,
    d.issuer_key_hash,
    d.requests,
    d.first_seen,
    d.last_seen,
    d.hours_mask,
    d.post_requests,
    d.sha256_requests,
    d.cache_hits,
    d.nonce_requests,
    d.good_responses,
    d.revoked_responses,
    d.unknown_responses,
    d.error_responses,
    d.server_errors,
    d.origin_latency_ms_sum,
    d.origin_latency_samples,
    d.user_agent,
    {{ built_now() }} as built_at
from daily as d
left join {{ ref('int_certificates') }} as c
    on d.issuer_key_sha1 = c.issuer_key_sha1 and d.serial = c.serial
