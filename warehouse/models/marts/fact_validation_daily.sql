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

with origin_via_cdn as (
    -- A request that came through the CDN and reached the responder is logged twice: by
    -- CloudFront and by the responder, both with CloudFront's request id. Count it once.
    -- The pair can straddle midnight, so the neighbouring days are searched too.
    select
        cf_request_id,
        serial,
        min(response_status) as response_status,
        min(cert_status) as cert_status,
        min(latency_ms) as latency_ms
    from {{ ref('stg_ocsp_requests') }}
    where source = 'lambda' and cf_request_id is not null
      and {% if is_incremental() %}{{ in_days(padded) }}{% else %}true{% endif %}
    group by cf_request_id, serial
),

cdn_of_origin as (
    select
        cf_request_id,
        bool_or(serial is not null) as names_certificate,
        min(client_ip) as client_ip,
        min(user_agent) as user_agent
    from {{ ref('stg_ocsp_requests') }}
    where source <> 'lambda'
      and cf_request_id in (select distinct cf_request_id from origin_via_cdn)
      and {% if is_incremental() %}{{ in_days(padded) }}{% else %}true{% endif %}
    group by cf_request_id
),

counted as (
    -- CDN rows count, except a POST (the CDN log has no body) that the responder logged in
    -- full; they take the responder's answer when its log arrived after theirs (the ingest
    -- joins only the other order). Responder rows count when the CDN did not log the
    -- request (direct requests) or logged it without its CertIDs, and then take the
    -- viewer's address and agent from the CDN, which saw the client itself.
    select
        r.dt,
        r.event_time,
        r.source,
        case when r.source = 'lambda' then coalesce(c.client_ip, r.client_ip) else r.client_ip end
            as client_ip,
        case when r.source = 'lambda' then coalesce(c.user_agent, r.user_agent) else r.user_agent end
            as user_agent,
        r.http_method,
        r.http_status,
        coalesce(r.response_status, o.response_status) as response_status,
        coalesce(r.cert_status, o.cert_status) as cert_status,
        r.hash_algorithm,
        r.issuer_name_hash,
        r.issuer_key_hash,
        r.issuer_key_sha1,
        r.serial,
        r.nonce,
        r.cache_hit,
        coalesce(
            r.origin_latency_ms,
            case when r.source = 'lambda' then r.latency_ms else o.latency_ms end
        ) as origin_latency_ms
    from {{ ref('stg_ocsp_requests') }} as r
    left join cdn_of_origin as c on r.cf_request_id = c.cf_request_id
    left join origin_via_cdn as o
        on r.source <> 'lambda' and r.cf_request_id = o.cf_request_id and r.serial = o.serial
    where {% if is_incremental() %}{{ in_days(days) }}{% else %}true{% endif %}
      and case
          when r.source = 'lambda' then c.cf_request_id is null or not c.names_certificate
          else not (r.serial is null and c.cf_request_id is not null and not c.names_certificate)
      end
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
        min(issuer_name_hash) as issuer_name_hash,
        min(issuer_key_hash) as issuer_key_hash,
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
    d.user_agent
from daily as d
left join {{ ref('int_certificates') }} as c
    on d.issuer_key_sha1 = c.issuer_key_sha1 and d.serial = c.serial
