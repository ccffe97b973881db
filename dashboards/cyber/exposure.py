"""Cyber defence: validations that should not happen (revoked, unknown or expired
certificates), new client-server edges over time, and traffic between zones."""

from __future__ import annotations

import streamlit as st

from dashboards import show
from dashboards.figures.exposure import Exposure
from dashboards.ui import filters, header, link_server, run, window

found = window()
f = filters(found)
header(
    "Cyber defence · Risky validations and zones",
    "Revoked, unknown and expired certificates still being validated; new client-server "
    "pairs; validation traffic from zone to zone.",
    found,
    f,
)
numbers = Exposure.fetch(run, f)
show.kpis(numbers.risky_clients())
show.table(numbers.risky_table())
for server in numbers.risky["server"].dropna().unique()[:5]:
    link_server(str(server))

left, right = st.columns(2)
with left:
    show.figure(numbers.new_edges())
with right:
    show.figure(numbers.zones())
