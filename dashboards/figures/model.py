"""The figures pages and reports show, independent of how they are drawn: a KPI, a chart
(or the sentence that replaces it when there is nothing to draw), a table.

Each figure is built once, by a function of ``dashboards.figures``; Streamlit draws it on
a page (``dashboards.show``) and the report writes it as HTML and SVG
(``dashboards.reports.html``). So a page and its report cannot disagree on a number, a
chart or a caption.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

T = TypeVar("T")


class Ask(Protocol):
    """How a builder runs a query of ``dashboards.queries``: ``ask(query, *args)``. Pages
    pass ``dashboards.ui.run`` (cached per warehouse file), reports a function that runs
    the query on their connection; the builders need not know which."""

    def __call__(self, query: Callable[..., T], /, *args: Any) -> T: ...


@dataclass(frozen=True)
class Kpi:
    """One headline number, already formatted; management's carry the previous period."""

    label: str
    value: str
    help: str | None = None
    previous: str | None = None
    delta: str | None = None
    lower_is_better: bool = False  # a rise is drawn as bad news
    trend: tuple[float, ...] | None = None  # weekly values, for a page's sparkline


@dataclass(frozen=True)
class Figure:
    """A chart of ``dashboards.charts``, or the sentence that replaces it when there is
    nothing to draw."""

    title: str
    chart: alt.Chart | alt.LayerChart | None
    empty: str = "Nothing to show in this period."
    empty_is_good: bool = False  # nothing to draw is good news (no alerts, say)


@dataclass(frozen=True)
class Table:
    """A table shown (its first ``shown`` rows in a report) and exported whole as
    ``<stem>-<name>.csv`` (a page's download is ``<name>.csv``)."""

    name: str
    title: str
    frame: pd.DataFrame
    shown: int = 20
    caption: str | None = None
    empty: str = "No rows in this period."
    empty_is_good: bool = False


def total(table: pd.DataFrame, column: str, where: pd.Series | None = None) -> int:
    """The sum of a count column (of the rows ``where`` selects), 0 for no rows: the
    KPIs are sums of what the tables show."""
    if table.empty:
        return 0
    values = table.loc[where, column] if where is not None else table[column]
    return int(values.sum())
