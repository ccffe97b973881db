"""PKI team: the load on the validation services per CA: OCSP requests, the share the
CDN and caches absorb, the responder's latency, errors, and CRL downloads."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, queries
from dashboards.formatting import number
from dashboards.ui import download, filters, header, run, window

found = window()
f = filters(found)
header(
    "PKI · Validation load",
    "OCSP requests per CA, the CDN and cache hit ratio, the responder's latency, and CRL fetches.",
    found,
    f,
)
load = run(queries.validation_load, f)
crl = run(queries.crl_fetches, f)
requests = int(load["requests"].sum()) if not load.empty else 0
hits = int(load["cache_hits"].sum()) if not load.empty else 0
row = st.columns(4)
row[0].metric("OCSP requests", number(requests))
row[1].metric("Answered from a cache", number(100.0 * hits / requests, " %") if requests else "–")
latency = queries.mean_latency(load)
row[2].metric(
    "Responder latency (mean)",
    number(latency, " ms"),
    help="Time the responder itself took, over the requests that reached it.",
)
row[3].metric("CRL downloads", number(int(crl["fetches"].sum()) if not crl.empty else 0))

if load.empty:
    st.info("No OCSP traffic in this period.")
else:
    st.altair_chart(
        charts.stacked_bars(load, "day", "requests", "ca", "OCSP requests per day and CA"),
        width="stretch",
    )
    left, right = st.columns(2)
    left.altair_chart(
        charts.lines(load, "day", "hit_ratio_percent", "ca", "Cache hit ratio (%)"),
        width="stretch",
    )
    right.altair_chart(
        charts.lines(load, "day", "latency_ms", "ca", "Responder latency (ms, mean)"),
        width="stretch",
    )
if not crl.empty:
    st.altair_chart(
        charts.stacked_bars(crl, "day", "fetches", "crl", "CRL downloads per day"),
        width="stretch",
    )
with st.expander("The numbers per day and CA"):
    st.dataframe(load, hide_index=True, width="stretch")
    download(load, "validation-load")
