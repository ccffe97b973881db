"""Cyber defence: what relies on a server. It opens on the most relied-upon servers of the
period; a chosen server shows its blast radius: every client that validated its
certificates, by zone, with first and last seen, and a picture of its neighbourhood."""

from __future__ import annotations

import streamlit as st

from dashboards import queries, show
from dashboards.figures.reliance import RANKED, clients_by_zone
from dashboards.formatting import number
from dashboards.graph import reliance_graph
from dashboards.ui import download, filters, header, link_client, run, subject, window

found = window()
f = filters(found)
header(
    "Cyber defence · What relies on a server",
    "If this server is compromised or its certificate revoked, these clients are affected.",
    found,
    f,
)


def most_relied_upon() -> str | None:
    """The ranked list of the period, and a pick from it."""
    ranked = run(queries.ranked_servers, f, RANKED)
    st.subheader("Most relied-upon servers")
    st.caption("By clients in the period, then by the zones they sit in. Pick one to open it.")
    if ranked.empty:
        return None
    st.dataframe(ranked, hide_index=True, width="stretch")
    picked = st.selectbox(
        "Open a server", ranked["server"].tolist(), index=None, key="server_ranked_pick"
    )
    return str(picked) if picked else None


server = subject(
    "server",
    "Server (host name or part of it)",
    queries.find_servers,
    hint="Type a host name, pick one of the list, or follow a link from an alert.",
    missing="No server's host contains {text!r}.",
    browse=most_relied_upon,
)
profile = run(queries.server_profile, server)
clients = run(queries.server_reliance, server, f)
facts = profile.iloc[0]
known = facts["addresses"]  # a list-like, or a missing value (None or pandas' NA)
addresses = [str(a) for a in known] if hasattr(known, "__iter__") else []
row = st.columns(5)
row[0].metric("Clients in the period", number(len(clients)))
row[1].metric(
    "Zones they sit in", number(clients["client_zone"].nunique() if not clients.empty else 0)
)
row[2].metric("Validations in the period", number(int(clients["requests"].sum())))
row[3].metric("Server zone", str(facts["zone"] or "unknown"))
row[4].metric("Certificates issued", number(facts["certificates"]))
st.caption(
    f"Current certificate {facts['current_serial']} from {facts['ca']}, valid until "
    f"{facts['valid_until']}; addresses {', '.join(addresses) or 'unknown'}"
    f"{'; staples its OCSP status' if facts['is_stapled'] else ''}."
)
if clients.empty:
    st.info("No client validated this server in the period.")
else:
    st.subheader("Its neighbourhood")
    left, right = st.columns([1, 1])
    with left:
        show.figure(clients_by_zone(server, clients))
    with right:
        st.graphviz_chart(reliance_graph(server, clients), width="stretch")
    st.dataframe(clients, hide_index=True, width="stretch")
    download(clients, f"relies-on-{server}")
    top = clients["client_ip"].head(3).tolist()
    for client in top:
        link_client(client)

alerts = run(queries.server_alerts, server)
if not alerts.empty:
    st.subheader("Alerts about this server")
    st.dataframe(alerts, hide_index=True, width="stretch")
