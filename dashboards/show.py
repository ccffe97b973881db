"""The figures of ``dashboards.figures`` drawn by Streamlit: the pages' half of "build once,
draw twice" (``dashboards.reports.html`` is the report's). A page keeps its own layout
(columns, headings, expanders) and calls these inside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from dashboards.figures.model import Figure, Kpi, Table
from dashboards.ui import download


def kpis(items: Sequence[Kpi], *, compared: str | None = None) -> None:
    """One row of metrics; ``compared`` says what a delta is against ("vs prior 14 d")."""
    for column, item in zip(st.columns(len(items)), items, strict=True):
        with column:
            kpi(item, compared=compared)


def kpi(item: Kpi, *, compared: str | None = None) -> None:
    st.metric(
        item.label,
        item.value,
        item.delta,
        delta_color="inverse" if item.lower_is_better else "normal",
        delta_description=compared if item.delta else None,
        chart_data=list(item.trend) if item.trend else None,
        help=item.help,
    )


def empty(text: str, *, good: bool) -> None:
    """Nothing to show: good news in green (no alerts), otherwise a plain note."""
    if good:
        st.success(text)
    else:
        st.info(text)


def figure(item: Figure) -> None:
    if item.chart is None:
        empty(item.empty, good=item.empty_is_good)
    else:
        st.altair_chart(item.chart, width="stretch")


def table(item: Table, *, exported: bool = True) -> None:
    """Every row (a page scrolls), its caption, and a CSV download named like the
    report's CSV unless ``exported`` is False."""
    if item.frame.empty:
        empty(item.empty, good=item.empty_is_good)
        return
    st.dataframe(item.frame, hide_index=True, width="stretch")
    if item.caption:
        st.caption(item.caption)
    if exported:
        download(item.frame, item.name)
