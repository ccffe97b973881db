"""The management report: the summary page's figures on one section, every KPI (not only
the page's row) against the period before, and the tables behind the charts; then key
exposure and deployment lag, as the summary page shows them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards.figures import keys, summary
from dashboards.figures.keys import KeyExposure
from dashboards.figures.summary import Summary
from dashboards.reports.model import Section

if TYPE_CHECKING:
    from dashboards.figures.model import Ask
    from dashboards.queries import Filters
    from dashboards.reports.evidence import Privacy


def sections(ask: Ask, f: Filters, privacy: Privacy) -> list[Section]:
    """The summary, then key exposure."""
    del privacy  # no evidence here; tables are handled for all sections
    numbers = Summary.fetch(ask, f)
    exposure = KeyExposure.fetch(ask, f)
    earlier = f.previous()
    return [
        Section(
            "summary",
            "Summary",
            f"{summary.INTRO}, against the {earlier.days} days before "
            f"({earlier.start:%Y-%m-%d} – {earlier.end:%Y-%m-%d}).",
            kpis=numbers.kpis(),
            figures=(
                numbers.weekly(),
                numbers.expiry_outlook(),
                numbers.validity(),
                numbers.open_alerts(),
            ),
            tables=(
                numbers.kpi_table(),
                numbers.trends_table(),
                numbers.outlook_table(),
                numbers.validity_table(),
                numbers.severity_table(),
                numbers.expiring_table(),
            ),
            notes=(numbers.validity_note(),),
        ),
        Section(
            "key-exposure",
            "Key exposure",
            keys.INTRO + ".",
            kpis=exposure.kpis(),
            figures=(exposure.by_profile(),),
            tables=(exposure.service_table(), exposure.lag_table()),
        ),
    ]
