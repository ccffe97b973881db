"""Cyber defence: where a client connects: the servers it validates, across zones. It opens
on the clients with the most servers in the period."""

from __future__ import annotations

import streamlit as st

from dashboards import queries
from dashboards.figures.reliance import RANKED
from dashboards.formatting import number
from dashboards.ui import download, filters, header, link_server, run, subject, window

found = window()
f = filters(found)
header(
    "Cyber defence · Where a client connects",
    "The servers a client validated certificates of: what it is about to trust.",
    found,
    f,
)


def most_servers() -> str | None:
    """The ranked list of the period, and a pick from it."""
    ranked = run(queries.ranked_clients, f, RANKED)
    st.subheader("Clients with the most servers")
    st.caption("By servers in the period, then by the zones they sit in. Pick one to open it.")
    if ranked.empty:
        return None
    st.dataframe(ranked, hide_index=True, width="stretch")
    picked = st.selectbox(
        "Open a client", ranked["client_ip"].tolist(), index=None, key="client_ranked_pick"
    )
    return str(picked) if picked else None


client = subject(
    "client",
    "Client IP address (or its start)",
    queries.find_clients,
    hint="Type an address, pick one of the list, or follow a link from an alert.",
    missing="No client address starts with {text!r}.",
    browse=most_servers,
)
facts = run(queries.client_profile, client).iloc[0]
servers = run(queries.client_reliance, client, f)
row = st.columns(4)
row[0].metric("Servers in the period", number(len(servers)))
row[1].metric(
    "Across zones", number(int(servers["crosses_zone"].sum()) if not servers.empty else 0)
)
row[2].metric("Zone", str(facts["zone"] or "unlisted"))
row[3].metric("OCSP requests (all time)", number(facts["ocsp_requests"]))
st.caption(
    f"Software **{facts['client_software'] or 'unknown'}** (User-Agent "
    f"`{facts['user_agent'] or 'none'}`); network {facts['network'] or 'not listed'} "
    f"({facts['site'] or '–'}, owner {facts['owner'] or '–'}); first seen "
    f"{facts['first_seen']:%Y-%m-%d %H:%M}, last seen {facts['last_seen']:%Y-%m-%d %H:%M} UTC"
    f"{'; a stapler for ' + str(facts['stapler_for']) if facts['is_stapler'] else ''}."
)
if servers.empty:
    st.info("This client validated no server in the period.")
else:
    st.dataframe(servers, hide_index=True, width="stretch")
    download(servers, "client-servers")  # no address in a file name: exports are pseudonymous
    for server in servers["server"].head(5):
        link_server(str(server))
alerts = run(queries.client_alerts, client)
if not alerts.empty:
    st.subheader("Alerts about this client")
    st.dataframe(alerts, hide_index=True, width="stretch")
