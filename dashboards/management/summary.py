"""Management: the state of the PKI on one screen, with the trend against the period
before. No client addresses here; the few tables that could show one are pseudonymised."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, queries
from dashboards.kpis import SUMMARY_KPIS
from dashboards.ui import download, filters, for_management, header, run, window

found = window()
f = filters(found)
header(
    "Management · Summary",
    "Certificates under management, how automated and how short-lived they are, "
    "renewals on time, and what the detectors raised.",
    found,
    f,
)
now = run(queries.kpis, f)
before = run(queries.kpis, f.previous())
trends = run(queries.weekly_trends, f)


def _weekly(column: str) -> list[float] | None:
    """The weekly values as the metric's sparkline (none with fewer than two weeks)."""
    values = [float(v) for v in trends[column].dropna()] if not trends.empty else []
    return values if len(values) > 1 else None


row = st.columns(len(SUMMARY_KPIS))
for column, kpi in zip(row, SUMMARY_KPIS, strict=True):
    delta = kpi.delta(now, before)
    column.metric(
        kpi.label,
        kpi.value(now),
        delta,
        delta_color="inverse" if kpi.lower_is_better else "normal",
        delta_description=f"vs prior {f.days} d" if delta else "",
        chart_data=_weekly(kpi.trend) if kpi.trend else None,
        help=kpi.help,
    )

left, right = st.columns(2)
with left:
    if trends.empty:
        st.info("No certificate was issued in this period.")
    else:
        melted = trends.melt(
            id_vars="week",
            value_vars=["automation_rate_percent", "on_time_renewal_percent"],
            var_name="measure",
            value_name="percent",
        )
        st.altair_chart(
            charts.lines(melted, "week", "percent", "measure", "Weekly automation and on-time"),
            width="stretch",
        )
with right:
    outlook = run(queries.expiry_outlook, f)
    st.altair_chart(
        charts.expiry_outlook(outlook),
        width="stretch",
    )

left, right = st.columns(2)
with left:
    bands = run(queries.validity_distribution, f)
    st.altair_chart(
        charts.bars(
            bands, "band", "certificates", "Validity against the 200 / 100 / 47-day limits"
        ),
        width="stretch",
    )
    share47 = (
        bands.loc[bands["band_order"] == 1, "certificates"].sum() / bands["certificates"].sum()
        if not bands.empty
        else 0.0
    )
    st.caption(
        f"{100 * share47:.0f} % of the certificates under management already fit the 47-day "
        "limit of 2029."
    )
with right:
    counts = run(queries.alert_counts, f)
    if counts.empty:
        st.success("No open alerts in this period.")
    else:
        st.altair_chart(charts.alerts_by_detector(counts), width="stretch")

with st.expander("Certificates expiring in the next 30 days without a renewal"):
    soon = for_management(run(queries.expiries_ahead, f, 30))
    st.dataframe(soon, hide_index=True, width="stretch")
    download(soon, "expiring-30-days")
