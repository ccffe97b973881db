-- A known CA, a serial the inventory has never seen: rogue issuance, a forged certificate,
-- or a CA used outside certsight.
select
    md5('unknown_certificate|' || f.issuer_key_sha1 || '|' || f.serial) as alert_key,
    'unknown_certificate' as detector,
    'critical' as severity,
    min(f.first_seen) as first_seen,
    max(f.last_seen) as last_seen,
    arg_max(f.client_ip, f.requests) as client_ip,
    cast(null as varchar) as server,
    f.serial,
    f.issuer_key_sha1 as issuer,
    sum(f.requests) as count,
    json_object(
        'why', 'a known issuer, a serial not in the inventory',
        'issuer_subject', min(i.subject),
        'clients', count(distinct f.client_ip),
        'sample_clients', list(distinct f.client_ip order by f.client_ip)[1:10],
        'responder_said_unknown', sum(f.unknown_responses),
        'hash_algorithms', list(distinct f.hash_algorithm order by f.hash_algorithm)
    )::varchar as evidence
from {{ ref('fact_validation_daily') }} as f
left join {{ ref('dim_issuer') }} as i using (issuer_key_sha1)
where f.issuer_key_sha1 is not null
  and f.serial is not null
  and not f.certificate_known
group by f.issuer_key_sha1, f.serial
