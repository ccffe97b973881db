"""Each audience's report: the figures its dashboard pages show (``dashboards.figures``,
built by the same functions from the same statements), arranged per audience by
``pki``, ``cyber`` and ``management``: KPIs first, then charts, then tables.

Client addresses are replaced by their keyed pseudonyms (``dashboards.privacy``) in every
table and in alert evidence when a key is given; the caller decides when (settings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from dashboards import queries
from dashboards.reports import cyber, management, pki
from dashboards.reports.evidence import Privacy
from dashboards.reports.model import Report, Section

if TYPE_CHECKING:
    import duckdb

    from dashboards.figures.model import Ask
    from dashboards.queries import Filters

T = TypeVar("T")
_AUDIENCES: dict[str, Callable[[Ask, Filters, Privacy], list[Section]]] = {
    "pki": pki.sections,
    "cyber": cyber.sections,
    "management": management.sections,
}


def build_report(
    con: duckdb.DuckDBPyConnection,
    audience: str,
    period: str,
    f: Filters,
    *,
    generated_at: datetime,
    privacy_key: bytes | None,
) -> Report:
    """The report of ``audience`` over the days of ``f``. With ``privacy_key``, client
    addresses appear as pseudonyms only."""
    if audience not in _AUDIENCES:
        raise ValueError(f"not an audience: {audience!r}")
    window = queries.data_window(con)
    privacy = Privacy(privacy_key)
    sections = tuple(
        replace(
            section,
            tables=tuple(replace(t, frame=privacy.table(t.frame)) for t in section.tables),
        )
        for section in _AUDIENCES[audience](_asking(con), f, privacy)
    )
    return Report(
        audience=audience,
        period=period,
        filters=f,
        window=window,
        generated_at=generated_at,
        sections=sections,
        pseudonymised=privacy_key is not None,
        notices=coverage_notices(window, f),
    )


def _asking(con: duckdb.DuckDBPyConnection) -> Ask:
    """The figures' way to run a query, on the report's own connection (no cache: a
    report asks each question once)."""

    def ask(query: Callable[..., T], /, *args: Any) -> T:
        return query(con, *args)

    return ask


def coverage_notices(window: dict[str, Any], f: Filters) -> tuple[str, ...]:
    """What the reader must know when the period and the data do not line up."""
    first: date | None = window["first_day"]
    last: date | None = window["last_day"]
    if first is None or last is None:
        return ("The warehouse holds no validation traffic yet: traffic sections are empty.",)
    if f.end < first or f.start > last:
        return (
            f"The period {f.start:%Y-%m-%d} – {f.end:%Y-%m-%d} lies outside the data "
            f"({first:%Y-%m-%d} – {last:%Y-%m-%d}): traffic sections are empty, and "
            f"inventory figures are as of {f.end:%Y-%m-%d}.",
        )
    if f.start < first or f.end > last:
        return (
            f"The data covers only {max(f.start, first):%Y-%m-%d} – "
            f"{min(f.end, last):%Y-%m-%d} of this period.",
        )
    return ()
