"""PKI team: what is under management, how it is issued and renewed, what expires next,
and a certificate lookup by serial or host."""

from __future__ import annotations

import streamlit as st

from dashboards import queries, show
from dashboards.figures import certificates
from dashboards.figures.certificates import EXPIRING_DAYS, Certificates
from dashboards.ui import filters, header, link_server, run, window

found = window()
f = filters(found)
header("PKI · Certificates and renewals", certificates.INTRO, found, f)

numbers = Certificates.fetch(run, f)
show.kpis(numbers.kpis())

for column, chart in zip(st.columns(3), numbers.managed_by(), strict=True):
    with column:
        show.figure(chart)

left, right = st.columns([2, 1])
with left:
    show.figure(numbers.issuance())
with right:
    timing = numbers.timing_table()
    st.markdown(f"**{timing.title}**")
    show.table(timing, exported=False)

st.subheader("Expiries ahead")
show.figure(certificates.outlook(run(queries.expiry_outlook, f)))
st.markdown(f"**Expiring within {EXPIRING_DAYS} days of the period's end, not renewed yet**")
show.table(numbers.expiring_table())

st.subheader("Find a certificate")
text = st.text_input(
    "Serial (hex, colons allowed) or host",
    key="certificate_search",
    placeholder="e.g. 4f1a or payments",
)
if text.strip():
    hits = run(queries.find_certificates, text)
    if hits.empty:
        st.warning(f"No certificate has a serial starting with, or a host containing, {text!r}.")
    else:
        st.dataframe(hits, hide_index=True, width="stretch")
        for server in hits["server"].dropna().unique()[:5]:
            link_server(str(server))
