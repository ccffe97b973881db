"""The landing page: where each audience's pages are, how fresh the data is, and what
deserves a look first."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, queries
from dashboards.catalog import PAGES
from dashboards.formatting import number
from dashboards.settings import AUDIENCE_TITLES
from dashboards.ui import allowed, filters, header, run, window

found = window()
f = filters(found)
header(
    "certsight · Start",
    "Validation traffic shows which clients rely on which servers. Pick your audience's "
    "pages; the filters on the left follow you across them.",
    found,
    f,
)
intros = {
    "management": "The state of the PKI on one screen: KPIs and their trend, expiries "
    "ahead, lifetimes against the shrinking limits.",
    "pki": "What is under management and how it renews, the load on OCSP and CRLs, who "
    "downloads trust stores and agents.",
    "cyber": "The detectors' alerts with their evidence, what relies on a server, where a "
    "client connects, validations that should not happen.",
}
columns = st.columns(3)
for column, audience in zip(columns, ("cyber", "pki", "management"), strict=True):
    if not allowed(audience):
        continue
    with column.container(border=True):
        st.subheader(AUDIENCE_TITLES[audience])
        st.caption(intros[audience])
        if audience == "cyber":
            counts = run(queries.alert_counts, f)
            critical = int(counts.loc[counts["severity"] == "critical", "alerts"].sum())
            high = int(counts.loc[counts["severity"] == "high", "alerts"].sum())
            st.metric("Open critical / high alerts", f"{number(critical)} / {number(high)}")
        elif audience == "pki":
            managed = run(queries.certificates_managed, f)
            st.metric("Certificates under management", number(managed["certificates"].sum()))
        else:
            kpis = run(queries.kpis, f)
            st.metric("Automation rate", number(kpis["automation_rate_percent"], " %"))
        for spec in PAGES:
            if spec.audience == audience:
                st.page_link(spec.path, label=spec.title, icon=spec.icon)

# The validation traffic of the period, for everyone: it also loads the browser's chart
# library here, once, instead of on the first audience page a reader opens.
load = run(queries.validation_load, f)
if not load.empty:
    daily = load.groupby("day", as_index=False)[["requests"]].sum()
    daily["requests of"] = "all CAs"
    st.altair_chart(
        charts.stacked_bars(
            daily, "day", "requests", "requests of", "OCSP requests per day", height=160
        ),
        width="stretch",
    )
