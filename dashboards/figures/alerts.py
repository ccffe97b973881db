"""The detectors' alerts as figures: open alerts by detector (the cyber report and the
management summary), alerts by the day of their last event (the alert queue page and
the cyber report), and the open counts by severity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards import charts, queries
from dashboards.figures.model import Figure, Kpi, Table
from dashboards.formatting import number

if TYPE_CHECKING:
    import pandas as pd

NO_OPEN_ALERT = "No open alert in this period."


def by_detector(counts: pd.DataFrame) -> Figure:
    """``queries.alert_counts`` as one bar per detector, stacked by severity."""
    title = "Open alerts by detector"
    return Figure(
        title,
        charts.stacked_bars(
            counts,
            "detector",
            "alerts",
            "severity",
            title,
            temporal=False,
            scale=charts.SEVERITY_COLOURS,
        )
        if not counts.empty
        else None,
        "No open alerts in this period.",
        empty_is_good=True,
    )


def by_day(queue: pd.DataFrame) -> Figure:
    """``queries.alert_queue`` counted per day of each alert's last event, by severity."""
    title = "Alerts by day of their last event"
    if queue.empty:
        return Figure(title, None, NO_OPEN_ALERT, empty_is_good=True)
    per_day = (
        queue.assign(day=queue["last_seen"].dt.floor("D"))
        .groupby(["day", "severity"])
        .size()
        .reset_index(name="alerts")
    )
    return Figure(
        title,
        charts.stacked_bars(
            per_day, "day", "alerts", "severity", title, scale=charts.SEVERITY_COLOURS
        ),
    )


def open_by_severity(counts: pd.DataFrame) -> tuple[Kpi, ...]:
    """One number per severity, worst first, from ``queries.alert_counts``."""
    found = {str(k): int(v) for k, v in counts.groupby("severity")["alerts"].sum().items()}
    return tuple(
        Kpi(f"Open {severity}", number(found.get(severity, 0))) for severity in queries.SEVERITIES
    )


def counts_table(counts: pd.DataFrame) -> Table:
    return Table(
        "alert-counts", "Open alerts by severity and detector", counts, empty=NO_OPEN_ALERT
    )
