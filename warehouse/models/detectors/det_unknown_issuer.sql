-- CertIDs whose issuer hashes match no known CA: clients asking this responder about a CA it
-- does not run (misconfiguration) or about certificates from an impostor CA.
select
    md5('unknown_issuer|' || f.hash_algorithm || '|' || f.issuer_key_hash) as alert_key,
    'unknown_issuer' as detector,
    'medium' as severity,
    min(f.first_seen) as first_seen,
    max(f.last_seen) as last_seen,
    arg_max(f.client_ip, f.requests) as client_ip,
    cast(null as varchar) as server,
    min(f.serial) as serial,
    f.issuer_key_hash as issuer,
    sum(f.requests) as count,
    json_object(
        'why', 'issuer hashes match no known CA',
        'hash_algorithm', f.hash_algorithm,
        'issuer_name_hash', min(f.issuer_name_hash),
        'serials', count(distinct f.serial),
        'sample_serials', list(distinct f.serial order by f.serial)[1:10],
        'clients', count(distinct f.client_ip),
        'sample_clients', list(distinct f.client_ip order by f.client_ip)[1:10]
    )::varchar as evidence
from {{ ref('fact_validation_daily') }} as f
where f.issuer_key_sha1 is null
  and f.serial is not null
  and f.issuer_key_hash is not null
group by f.hash_algorithm, f.issuer_key_hash
