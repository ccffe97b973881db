"""Cyber defence: the detectors' findings, worst first. Pick one to see its evidence and
jump to the client's and the server's views."""

from __future__ import annotations

import json

import streamlit as st

from dashboards import queries, show
from dashboards.figures import alerts
from dashboards.ui import download, filters, header, link_client, link_server, run, window

found = window()
f = filters(found)
header(
    "Cyber defence · Alert queue",
    "Findings of the detectors active in the period, worst first. Select a row for its "
    "evidence and links to the client and the server.",
    found,
    f,
)
left, middle, right = st.columns(3)
statuses = left.multiselect("Status", ["open", "cleared"], default=["open"], key="alert_status")
severities = middle.multiselect(
    "Severity", list(queries.SEVERITIES), default=list(queries.SEVERITIES), key="alert_severity"
)
chosen = right.multiselect("Detector", run(queries.detectors), key="alert_detector")
queue = run(queries.alert_queue, f, tuple(statuses), tuple(severities), tuple(chosen))
counts: dict[str, int] = {str(k): int(v) for k, v in queue["severity"].value_counts().items()}
row = st.columns(4)
for column, severity in zip(row, queries.SEVERITIES, strict=True):
    column.metric(severity.capitalize(), f"{int(counts.get(severity, 0)):,}")

if queue.empty:
    st.success("No alert matches these filters.")
    st.stop()

shown = queue.drop(columns=["alert_key"])
picked = st.dataframe(
    shown,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    # The selection belongs to this queue: other filters make another table.
    key=f"alert_table_{hash((f, tuple(statuses), tuple(severities), tuple(chosen)))}",
    column_config={"count": st.column_config.NumberColumn("count", format="%d")},
)
download(queue, "alerts")
rows = [r for r in (picked.selection.rows if picked is not None else []) if r < len(queue)]
wanted = st.query_params.get("alert")
if rows:
    alert_key = str(queue.iloc[rows[0]]["alert_key"])
elif wanted and wanted in set(queue["alert_key"]):
    alert_key = wanted
else:
    alert_key = str(queue.iloc[0]["alert_key"])
    st.caption("Showing the first alert; select a row to see another.")

detail = run(queries.alert_detail, alert_key).iloc[0]
st.subheader(f"{detail['severity'].capitalize()} · {detail['detector']}")
facts, evidence = st.columns([1, 1])
with facts:
    st.markdown(
        "\n".join(
            f"- **{label}**: {value}"
            for label, value in (
                ("status", detail["status"]),
                ("server", detail["server"] or "–"),
                ("client", detail["client_ip"] or "–"),
                ("serial", detail["serial"] or "–"),
                ("issuer", detail["issuer"] or "–"),
                ("first seen", f"{detail['first_seen']:%Y-%m-%d %H:%M:%S} UTC"),
                ("last seen", f"{detail['last_seen']:%Y-%m-%d %H:%M:%S} UTC"),
                ("requests behind it", f"{int(detail['count']):,}"),
                ("raised by the build of", f"{detail['raised_at']:%Y-%m-%d %H:%M} UTC"),
                ("alert key", f"`{alert_key}`"),
            )
        )
    )
    if detail["server"]:
        link_server(str(detail["server"]))
    if detail["client_ip"]:
        link_client(str(detail["client_ip"]))
with evidence:
    st.markdown("**Evidence**")
    try:
        st.json(json.loads(detail["evidence"] or "{}"))
    except ValueError:
        st.code(str(detail["evidence"]))

show.figure(alerts.by_day(queue))
