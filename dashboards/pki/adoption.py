"""PKI team: who uses the PKI's published artefacts: trust-store and agent downloads by
zone and version, and which agent versions actually run (their User-Agent)."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, queries
from dashboards.formatting import number
from dashboards.queries import version_order
from dashboards.ui import download, filters, header, run, window

found = window()
f = filters(found)
header(
    "PKI · Trust stores and agents",
    "Downloads of trust stores and the certsight agent by zone and version, and the agent "
    "versions seen validating.",
    found,
    f,
)
downloads = run(queries.downloads_by_zone, f)
adoption = run(queries.agent_adoption, f)
row = st.columns(3)
row[0].metric(
    "Trust-store downloads",
    number(int(downloads.loc[downloads["kind"] == "truststore", "downloads"].sum())),
)
row[1].metric(
    "Agent downloads", number(int(downloads.loc[downloads["kind"] == "agent", "downloads"].sum()))
)
running = int(adoption["clients"].sum()) if not adoption.empty else 0
latest = max(adoption["version"], key=version_order) if not adoption.empty else None
on_latest = int(adoption.loc[adoption["version"] == latest, "clients"].sum()) if latest else 0
row[2].metric(
    "Agents on the newest version",
    number(100.0 * on_latest / running, " %") if running else "–",
    help=f"Clients validating with certsight-agent/{latest} among {running:,} agents seen."
    if latest
    else None,
)

left, right = st.columns(2)
for column, kind, title in (
    (left, "truststore", "Trust-store downloads by zone and version"),
    (right, "agent", "Agent downloads by zone and version"),
):
    part = downloads[downloads["kind"] == kind]
    if part.empty:
        column.info(f"No {kind} downloads in this period.")
    else:
        column.altair_chart(
            charts.stacked_bars(part, "zone", "downloads", "version", title, temporal=False),
            width="stretch",
        )
if adoption.empty:
    st.info("No certsight agent validated anything in this period.")
else:
    st.altair_chart(
        charts.bars(adoption, "version", "clients", "Agent versions running (clients)"),
        width="stretch",
    )
with st.expander("Downloads per zone, kind and version"):
    st.dataframe(downloads, hide_index=True, width="stretch")
    download(downloads, "downloads")
