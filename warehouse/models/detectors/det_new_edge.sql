-- A client validates a server it never validated before, judged against its zone peers.
-- Judged only after the learning period (var learning_days from the first traffic) and
-- once the server has been around for a learning period of its own (a new service gains
-- its clients first). A pair that at least var new_edge_min_peers other clients of the
-- client's zone already used is the zone's habit: expected churn, severity low, even when it
-- crosses zones (its peers cross the same way). A pair no such peers use is medium, high
-- when it crosses zones. A new client (in its own first learning_days) is only reported
-- when it picks up its zone's habits (low): its other first pairs are how it forms habits.
with window_ as (
    select * from {{ ref('int_data_window') }}
),

edges as (
    select * from {{ ref('client_server_edges') }}
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
),

candidates as (
    select
        e.*,
        c.client_first_seen,
        s.server_first_seen,
        w.learning_ends,
        e.first_seen < c.client_first_seen + to_days({{ var('learning_days') }}) as new_client
    from edges as e
    cross join window_ as w
    inner join client_start as c using (client_ip)
    inner join server_start as s using (server)
    where e.first_seen >= cast(w.learning_ends as timestamptz)
      and e.first_seen >= s.server_first_seen + to_days({{ var('learning_days') }})
),

zone_members as (
    -- when each client was first seen in its zone (any server)
    select client_ip, client_zone, min(first_seen) as first_seen
    from edges
    where client_zone is not null
    group by client_ip, client_zone
),

peers as (
    -- other clients of the same zone that used this server before this pair began
    select
        n.client_ip,
        n.server,
        count(distinct p.client_ip) as zone_peers,
        min(p.first_seen) as peers_since
    from candidates as n
    inner join edges as p
        on p.client_zone = n.client_zone
        and p.server = n.server
        and p.client_ip <> n.client_ip
        and p.first_seen < n.first_seen
    group by n.client_ip, n.server
),

zone_growth as (
    -- how many clients each zone had by each moment one joined (ties counted together)
    select
        client_zone,
        first_seen,
        count(*) over (
            partition by client_zone order by first_seen
            range between unbounded preceding and current row
        ) as members
    from zone_members
),

zone_sizes as (
    -- other clients of the zone seen before this pair began: the share's denominator
    -- (an as-of join, so a zone of many thousand clients is not joined row by row)
    select
        n.client_ip,
        n.server,
        coalesce(g.members, 0) - case when m.first_seen < n.first_seen then 1 else 0 end as zone_clients
    from candidates as n
    asof left join zone_growth as g
        on n.client_zone = g.client_zone
        and n.first_seen > g.first_seen
    left join zone_members as m
        on m.client_ip = n.client_ip
        and m.client_zone = n.client_zone
),

judged as (
    select
        n.*,
        coalesce(p.zone_peers, 0) as zone_peers,
        p.peers_since,
        coalesce(z.zone_clients, 0) as zone_clients,
        coalesce(p.zone_peers, 0) >= {{ var('new_edge_min_peers', 2) }} as peer_typical
    from candidates as n
    left join peers as p using (client_ip, server)
    left join zone_sizes as z using (client_ip, server)
)

select
    md5('new_edge|' || e.client_ip || '|' || e.server) as alert_key,
    'new_edge' as detector,
    case when e.peer_typical then 'low' when e.crosses_zone then 'high' else 'medium' end as severity,
    e.first_seen,
    e.last_seen,
    e.client_ip,
    e.server,
    f.serial,
    f.issuer,
    e.requests as count,
    json_object(
        'why', case
            when e.peer_typical and e.new_client
                then 'a new client picks up its zone''s habit: its zone peers already validate this server'
            when e.peer_typical
                then 'first validation of this server by this client; its zone peers already validate it (expected churn)'
            else 'first validation of this server by this client after the learning period; '
                || 'fewer than ' || {{ var('new_edge_min_peers', 2) }} || ' other clients of its zone validated it before'
        end,
        'peer_typical', e.peer_typical,
        'new_client', e.new_client,
        'zone_peers_using_server', e.zone_peers,
        'zone_clients', e.zone_clients,
        'zone_share', case when e.zone_clients > 0 then round(e.zone_peers / e.zone_clients, 4) end,
        'peers_since', cast(e.peers_since as varchar),
        'min_peers', {{ var('new_edge_min_peers', 2) }},
        'client_zone', e.client_zone,
        'server_zone', e.server_zone,
        'crosses_zone', e.crosses_zone,
        'client_software', e.client_software,
        'days_active', e.days_active,
        'learning_ends', cast(e.learning_ends as varchar),
        'client_first_seen', cast(e.client_first_seen as varchar),
        'server_first_seen', cast(e.server_first_seen as varchar)
    )::varchar as evidence
from judged as e
left join first_certificate as f using (client_ip, server)
where e.peer_typical or not e.new_client
