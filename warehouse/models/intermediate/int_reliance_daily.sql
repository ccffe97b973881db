{{ config(materialized='view') }}
-- One row per client, server and day in which the client relied on the server: the
-- client-server days without the staplers (a server fetching its own status is not its
-- own client). Edges, fan-out and volume baselines all read this one rule.
select d.*
from {{ ref('int_client_server_daily') }} as d
anti join {{ ref('int_staplers') }} as s using (client_ip, server)
