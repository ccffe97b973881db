-- A client validates a server it never validated before. Judged only after the learning
-- period (var learning_days from the first traffic), and only once the client and the server
-- have each been around for a learning period of their own: a new laptop or a new service
-- forms its habits first. Crossing zones raises the severity.
with window_ as (
    select * from {{ ref('int_data_window') }}
),

client_start as (
    select client_ip, min(first_seen) as client_first_seen
    from {{ ref('fact_validation_daily') }}
    group by client_ip
),

server_start as (
    select server, min(first_seen) as server_first_seen
    from {{ ref('int_client_server_daily') }}
    group by server
),

first_certificate as (
    select client_ip, server, arg_min(serial, first_seen) as serial, arg_min(issuer_key_sha1, first_seen) as issuer
    from {{ ref('fact_validation_daily') }}
    where server is not null
    group by client_ip, server
)

select
    md5('new_edge|' || e.client_ip || '|' || e.server) as alert_key,
    'new_edge' as detector,
    case when e.crosses_zone then 'high' else 'medium' end as severity,
    e.first_seen,
    e.last_seen,
    e.client_ip,
    e.server,
    f.serial,
    f.issuer,
    e.requests as count,
    json_object(
        'why', 'first validation of this server by this client after the learning period',
        'client_zone', e.client_zone,
        'server_zone', e.server_zone,
        'crosses_zone', e.crosses_zone,
        'client_software', e.client_software,
        'days_active', e.days_active,
        'learning_ends', cast(w.learning_ends as varchar),
        'client_first_seen', cast(c.client_first_seen as varchar),
        'server_first_seen', cast(s.server_first_seen as varchar)
    )::varchar as evidence
from {{ ref('client_server_edges') }} as e
cross join window_ as w
inner join client_start as c using (client_ip)
inner join server_start as s using (server)
left join first_certificate as f using (client_ip, server)
where e.first_seen >= cast(w.learning_ends as timestamptz)
  and e.first_seen >= c.client_first_seen + to_days({{ var('learning_days') }})
  and e.first_seen >= s.server_first_seen + to_days({{ var('learning_days') }})
