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

with requests as (
    select *
    from {{ ref('stg_ocsp_requests') }}
    where {% if is_incremental() %}{{ in_days(days) }}{% else %}true{% endif %}
),

-- A request that came through the CDN and reached the responder is logged twice: by
-- CloudFront and by the responder, both with CloudFront's request id. Count it once.
-- The pair can straddle midnight, so the neighbouring days are searched too.
origin_via_cdn as (
    select distinct cf_request_id
    from {{ ref('stg_ocsp_requests') }}
    where source = 'lambda' and cf_request_id is not null
      and {% if is_incremental() %}{{ in_days(padded) }}{% else %}true{% endif %}
),

cdn_of_origin as (
    select
        cf_request_id,
        bool_or(serial is not null) as names_certificate,
        min(client_ip) as client_ip,
        min(user_agent) as user_agent
    from {{ ref('stg_ocsp_requests') }}
    where source <> 'lambda'
      and cf_request_id in (select cf_request_id from origin_via_cdn)
      and {% if is_incremental() %}{{ in_days(padded) }}{% else %}true{% endif %}
    group by cf_request_id
),

counted as (
    -- CDN rows, except a POST (the CDN log has no body) that the responder logged in full
    select r.*
    from requests as r
    where r.source <> 'lambda'
      and not (
          r.serial is null and r.cf_request_id is not null
          and r.cf_request_id in (select cf_request_id from cdn_of_origin where not names_certificate)
      )

    union all

    -- responder rows: direct requests, and those whose CDN row could not name the CertID;
    -- the viewer's address and agent come from the CDN, which saw the client itself
    select
        r.* replace (
            coalesce(c.client_ip, r.client_ip) as client_ip,
            coalesce(c.user_agent, r.user_agent) as user_agent
        )
    from requests as r
    left join cdn_of_origin as c on r.cf_request_id = c.cf_request_id
    where r.source = 'lambda' and (c.cf_request_id is null or not c.names_certificate)
),

by_certid as (
    select
        dt,
        client_ip,
        hash_algorithm,
        issuer_key_hash,
        serial,
        min(issuer_name_hash) as issuer_name_hash,
        min(issuer_key_sha1) as responder_issuer_key_sha1,
        count(*) as requests,
        min(event_time) as first_seen,
        max(event_time) as last_seen,
        bit_or({{ hour_bit('event_time') }}) as hours_mask,
        count(*) filter (where http_method = 'POST') as post_requests,
        count(*) filter (where cache_hit) as cache_hits,
        count(*) filter (where nonce) as nonce_requests,
        count(*) filter (where cert_status = 'good') as good_responses,
        count(*) filter (where cert_status = 'revoked') as revoked_responses,
        count(*) filter (where cert_status = 'unknown') as unknown_responses,
        count(*) filter (where response_status is not null and response_status <> 'successful') as error_responses,
        count(*) filter (where http_status >= 500) as server_errors,
        sum(coalesce(origin_latency_ms, case when source = 'lambda' then latency_ms end)) as origin_latency_ms_sum,
        count(coalesce(origin_latency_ms, case when source = 'lambda' then latency_ms end)) as origin_latency_samples,
        min(user_agent) as user_agent
    from counted
    group by dt, client_ip, hash_algorithm, issuer_key_hash, serial
),

resolved as (
    select
        b.*,
        coalesce(h.issuer_key_sha1, b.responder_issuer_key_sha1) as issuer_key_sha1
    from by_certid as b
    left join {{ ref('int_issuer_hashes') }} as h
        on b.hash_algorithm = h.hash_algorithm and b.issuer_key_hash = h.key_hash
),

certified as (
    select
        r.*,
        c.server,
        c.certificate_key is not null as certificate_known,
        case
            when r.serial is null then '(none)'
            when r.issuer_key_sha1 is not null then r.issuer_key_sha1 || ':' || r.serial
            else '?' || r.hash_algorithm || ':' || r.issuer_key_hash || ':' || r.serial
        end as certificate_key
    from resolved as r
    left join {{ ref('int_certificates') }} as c
        on r.issuer_key_sha1 = c.issuer_key_sha1 and r.serial = c.serial
)

select
    dt,
    client_ip,
    certificate_key,
    min(issuer_key_sha1) as issuer_key_sha1,
    min(serial) as serial,
    min(server) as server,
    bool_or(certificate_known) as certificate_known,
    case when count(distinct hash_algorithm) > 1 then 'mixed' else min(hash_algorithm) end as hash_algorithm,
    min(issuer_name_hash) as issuer_name_hash,
    min(issuer_key_hash) as issuer_key_hash,
    sum(requests) as requests,
    min(first_seen) as first_seen,
    max(last_seen) as last_seen,
    bit_or(hours_mask) as hours_mask,
    sum(post_requests) as post_requests,
    coalesce(sum(requests) filter (where hash_algorithm = 'sha256'), 0) as sha256_requests,
    sum(cache_hits) as cache_hits,
    sum(nonce_requests) as nonce_requests,
    sum(good_responses) as good_responses,
    sum(revoked_responses) as revoked_responses,
    sum(unknown_responses) as unknown_responses,
    sum(error_responses) as error_responses,
    sum(server_errors) as server_errors,
    sum(origin_latency_ms_sum) as origin_latency_ms_sum,
    sum(origin_latency_samples) as origin_latency_samples,
    min(user_agent) as user_agent
from certified
group by dt, client_ip, certificate_key
