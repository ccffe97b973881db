"""PKI team: what is under management, how it is issued and renewed, what expires next,
and a certificate lookup by serial or host."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, queries
from dashboards.formatting import number
from dashboards.ui import download, filters, header, link_server, run, window

found = window()
f = filters(found)
header(
    "PKI · Certificates and renewals",
    "Certificates under management by CA, profile and key algorithm; issuance and renewal "
    "volume; renewals on time or late; what expires next.",
    found,
    f,
)

managed = run(queries.certificates_managed, f)
timing = run(queries.renewal_timing, f)
ahead = run(queries.expiries_ahead, f, 30)
renewals = int(timing["renewals"].sum()) if not timing.empty else 0
on_time = int(timing.loc[timing["renewal_timing"] == "on_time", "renewals"].sum())
row = st.columns(4)
row[0].metric("Certificates under management", number(int(managed["certificates"].sum())))
row[1].metric("Renewals in the period", number(renewals))
row[2].metric(
    "Renewed on time",
    number(100.0 * on_time / renewals, " %") if renewals else "–",
    help="At least a tenth of the previous certificate's life left at renewal.",
)
row[3].metric("Expiring within 30 days, not renewed", number(len(ahead)), delta_color="inverse")

left, middle, right = st.columns(3)
for column, field, title in (
    (left, "ca", "By CA"),
    (middle, "profile", "By profile"),
    (right, "key_algorithm", "By key algorithm"),
):
    grouped = managed.groupby(field, dropna=False)["certificates"].sum().reset_index()
    column.altair_chart(charts.bars(grouped, field, "certificates", title), width="stretch")

left, right = st.columns([2, 1])
with left:
    daily = run(queries.issuance_daily, f)
    if daily.empty:
        st.info("No certificate was issued in this period.")
    else:
        st.altair_chart(
            charts.stacked_bars(
                daily, "day", "certificates", "renewal_timing", "Issuance and renewals per day"
            ),
            width="stretch",
        )
with right:
    st.markdown("**Renewal timing**")
    st.dataframe(timing, hide_index=True, width="stretch")
    st.caption(
        "on_time: at least a tenth of the old certificate's life left; late: less; "
        "after_expiry: the server ran on an expired certificate."
    )

st.subheader("Expiries ahead")
outlook = run(queries.expiry_outlook, f)
st.altair_chart(
    charts.expiry_outlook(outlook),
    width="stretch",
)
st.markdown("**Expiring within 30 days of the period's end, not renewed yet**")
if ahead.empty:
    st.success("No current certificate expires within 30 days of the period's end.")
else:
    st.dataframe(ahead, hide_index=True, width="stretch")
    download(ahead, "expiring-30-days")

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
