"""Cyber defence: validations that should not happen (revoked, unknown or expired
certificates), new client-server edges over time, and traffic between zones."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, queries
from dashboards.formatting import number
from dashboards.ui import download, filters, header, link_server, run, window

found = window()
f = filters(found)
header(
    "Cyber defence · Risky validations and zones",
    "Revoked, unknown and expired certificates still being validated; new client-server "
    "pairs; validation traffic from zone to zone.",
    found,
    f,
)
risky = run(queries.risky_validations, f)
counts = run(queries.risky_clients, f)
row = st.columns(3)
for column, risk, meaning in (
    (row[0], "revoked", "Clients validating revoked certificates"),
    (row[1], "unknown", "Clients validating unknown certificates"),
    (row[2], "expired", "Clients validating expired certificates"),
):
    column.metric(meaning, number(counts[risk]))
if risky.empty:
    st.success("No revoked, unknown or expired certificate was validated in this period.")
else:
    st.dataframe(risky, hide_index=True, width="stretch")
    download(risky, "risky-validations")
    for server in risky["server"].dropna().unique()[:5]:
        link_server(str(server))

left, right = st.columns(2)
with left:
    edges = run(queries.new_edges_daily, f)
    if edges.empty:
        st.info("No new client-server pair in this period.")
    else:
        st.altair_chart(
            charts.stacked_bars(edges, "day", "new_edges", "kind", "New client-server edges"),
            width="stretch",
        )
with right:
    matrix = run(queries.zone_matrix, f)
    if matrix.empty:
        st.info("No validation of a known server in this period.")
    else:
        st.altair_chart(
            charts.heatmap(
                matrix, "server_zone", "client_zone", "requests", "Validations zone to zone"
            ),
            width="stretch",
        )
