"""Management: the state of the PKI on one screen, with the trend against the period
before. No client addresses here; the few tables that could show one are pseudonymised."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, queries
from dashboards.formatting import change, number
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


def _delta(name: str, suffix: str = "") -> str | None:
    if name in queries.STATE_NOW_KPIS:
        return None
    moved = change(now[name], before[name], suffix)
    return None if moved in (None, f"+0{suffix}") else moved  # "+0" would show as a rise


def _versus(name: str) -> str:
    return f"vs prior {f.days} d" if _delta(name) is not None else ""


row = st.columns(6)
row[0].metric(
    "Certificates managed",
    number(now["certificates_managed"]),
    _delta("certificates_managed"),
    delta_description=_versus("certificates_managed"),
    help="In the inventory, serving a server, started, not expired and not revoked at the "
    "end of the period.",
)
row[1].metric(
    "Automation rate",
    number(now["automation_rate_percent"], " %"),
    _delta("automation_rate_percent", " pts"),
    delta_description=_versus("automation_rate_percent"),
    chart_data=_weekly("automation_rate_percent"),
    help="Share of certificates issued in the period by automation (ACME, agents, APIs).",
)
row[2].metric(
    "Median validity",
    number(now["median_validity_days"], " d"),
    _delta("median_validity_days", " d"),
    delta_color="inverse",
    delta_description=_versus("median_validity_days"),
    chart_data=_weekly("median_validity_days"),
    help="Median lifetime of the certificates issued in the period.",
)
row[3].metric(
    "On-time renewals",
    number(now["on_time_renewal_percent"], " %"),
    _delta("on_time_renewal_percent", " pts"),
    delta_description=_versus("on_time_renewal_percent"),
    chart_data=_weekly("on_time_renewal_percent"),
    help="Renewals issued with at least a tenth of the old certificate's life left.",
)
row[4].metric(
    "Open critical alerts",
    number(now["open_critical_alerts"]),
    _delta("open_critical_alerts"),
    delta_color="inverse",
    delta_description=_versus("open_critical_alerts"),
    help="Critical findings of the detectors not cleared yet, now (statuses have no "
    "history, so there is no earlier value to compare with).",
)
row[5].metric(
    "Incidents prevented",
    number(now["incidents_prevented"]),
    _delta("incidents_prevented"),
    delta_description=_versus("incidents_prevented"),
    help="Renewals issued before the certificate they replace expired: each would "
    "otherwise have been a service failing its TLS handshakes.",
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
        st.altair_chart(
            charts.stacked_bars(
                counts,
                "detector",
                "alerts",
                "severity",
                "Open alerts by detector",
                temporal=False,
                scale=charts.SEVERITY_COLOURS,
            ),
            width="stretch",
        )

with st.expander("Certificates expiring in the next 30 days without a renewal"):
    soon = for_management(run(queries.expiries_ahead, f, 30))
    st.dataframe(soon, hide_index=True, width="stretch")
    download(soon, "expiring-30-days")
