"""What a report is made of, independent of how it is drawn: sections of KPIs, charts and
tables (the figures of ``dashboards.figures``), for one audience and one period."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from dashboards.figures.model import Figure, Kpi, Table
from dashboards.queries import Filters
from dashboards.settings import AUDIENCE_TITLES, AUDIENCES

__all__ = ["AUDIENCES", "DEFAULT_PERIODS", "PERIODS", "Figure", "Kpi", "Table"]

PERIODS = ("week", "month")
DEFAULT_PERIODS = {"pki": "week", "cyber": "week", "management": "month"}


def period_filters(period: str, end: date) -> Filters:
    """``week``: the 7 UTC days ending on ``end``; ``month``: the 1st of ``end``'s month
    through ``end``. Both inclusive."""
    if period == "week":
        return Filters(end - timedelta(days=6), end)
    if period == "month":
        return Filters(end.replace(day=1), end)
    raise ValueError(f"not a period: {period!r} (one of {', '.join(PERIODS)})")


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    intro: str
    kpis: tuple[Kpi, ...] = ()
    figures: tuple[Figure, ...] = ()
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    audience: str
    period: str
    filters: Filters
    window: dict[str, Any]  # queries.data_window
    generated_at: datetime
    sections: tuple[Section, ...]
    pseudonymised: bool
    notices: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:
        return f"{AUDIENCE_TITLES[self.audience]} report"

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(t for s in self.sections for t in s.tables)
