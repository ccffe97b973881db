"""Management's summary: the KPIs against the period before, their weekly trend, the
expiry outlook, lifetimes against the shrinking limits, open alerts, and what expires
next. The management summary page and the management report show these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from dashboards import charts, queries
from dashboards.figures import alerts, certificates
from dashboards.figures.model import Ask, Figure, Kpi, Table, total
from dashboards.formatting import change
from dashboards.kpis import KPIS, KpiSpec

if TYPE_CHECKING:
    from dashboards.queries import Filters

# Without a full stop: the report goes on to say what the period is compared with.
INTRO = (
    "Certificates under management, how automated and how short-lived they are, renewals "
    "on time, and what the detectors raised"
)
NONE_ISSUED = "No certificate was issued in this period."


@dataclass(frozen=True)
class Summary:
    """The period's management numbers and those of the period before, asked once; each
    method builds one figure."""

    f: Filters
    now: dict[str, Any]  # queries.kpis over f
    before: dict[str, Any]  # queries.kpis over f.previous()
    trends: pd.DataFrame  # queries.weekly_trends
    outlook: pd.DataFrame  # queries.expiry_outlook
    bands: pd.DataFrame  # queries.validity_distribution
    counts: pd.DataFrame  # queries.alert_counts
    soon: pd.DataFrame  # queries.expiries_ahead, certificates.EXPIRING_DAYS

    @classmethod
    def fetch(cls, ask: Ask, f: Filters) -> Summary:
        return cls(
            f,
            ask(queries.kpis, f),
            ask(queries.kpis, f.previous()),
            ask(queries.weekly_trends, f),
            ask(queries.expiry_outlook, f),
            ask(queries.validity_distribution, f),
            ask(queries.alert_counts, f),
            ask(queries.expiries_ahead, f, certificates.EXPIRING_DAYS),
        )

    def kpis(self, specs: Sequence[KpiSpec] = KPIS) -> tuple[Kpi, ...]:
        """Each KPI with the previous period's value, the change, and its weekly values
        (a sparkline needs two weeks at least)."""
        return tuple(
            Kpi(
                spec.label,
                spec.value(self.now),
                spec.help,
                previous=spec.value(self.before) if spec.comparable else None,
                delta=spec.delta(self.now, self.before),
                lower_is_better=spec.lower_is_better,
                trend=self._weekly(spec.trend) if spec.trend else None,
            )
            for spec in specs
        )

    def _weekly(self, column: str) -> tuple[float, ...] | None:
        values = [float(v) for v in self.trends[column].dropna()] if not self.trends.empty else []
        return tuple(values) if len(values) > 1 else None

    def weekly(self) -> Figure:
        """Automation and on-time renewals per week, one line each."""
        melted = (
            self.trends.melt(
                id_vars="week",
                value_vars=["automation_rate_percent", "on_time_renewal_percent"],
                var_name="measure",
                value_name="percent",
            )
            if not self.trends.empty
            else self.trends
        )
        return Figure(
            "Weekly automation and on-time renewals",
            charts.lines(melted, "week", "percent", "measure", "Weekly automation and on-time")
            if not self.trends.empty
            else None,
            NONE_ISSUED,
        )

    def expiry_outlook(self) -> Figure:
        return certificates.outlook(self.outlook)

    def validity(self) -> Figure:
        title = "Validity against the 200 / 100 / 47-day limits"
        return Figure(
            title,
            charts.bars(self.bands, "band", "certificates", title)
            if not self.bands.empty
            else None,
            certificates.NONE_MANAGED,
        )

    def validity_note(self) -> str:
        """How much of the estate already fits the shortest limit."""
        managed = total(self.bands, "certificates")
        fits = total(self.bands, "certificates", self.bands["band_order"] == 1)
        share = fits / managed if managed else 0.0
        return (
            f"{100 * share:.0f} % of the certificates under management already fit the "
            "47-day limit of 2029."
        )

    def open_alerts(self) -> Figure:
        return alerts.by_detector(self.counts)

    def kpi_table(self) -> Table:
        return Table(
            "kpis", "The numbers against the previous period", kpi_frame(self.now, self.before)
        )

    def trends_table(self) -> Table:
        return Table("weekly-trends", "Issuance per week", self.trends, empty=NONE_ISSUED)

    def outlook_table(self) -> Table:
        return Table("expiry-outlook", "Current certificates expiring per week ahead", self.outlook)

    def validity_table(self) -> Table:
        return Table(
            "validity-distribution", "Certificates under management by lifetime", self.bands
        )

    def severity_table(self) -> Table:
        severities = (
            self.counts.groupby("severity", sort=False)["alerts"].sum().reset_index()
            if not self.counts.empty
            else pd.DataFrame(columns=["severity", "alerts"])
        )
        return Table("open-alerts", "Open alerts by severity", severities, empty="No open alerts.")

    def expiring_table(self) -> Table:
        return certificates.expiring_table(self.soon)


def kpi_frame(now: dict[str, Any], before: dict[str, Any]) -> pd.DataFrame:
    """Every KPI's raw value in both periods and the change, for the report's CSV."""
    return pd.DataFrame(
        [
            {
                "measure": kpi.name,
                "label": kpi.label,
                "this_period": now[kpi.name],
                "previous_period": before[kpi.name] if kpi.comparable else None,
                "change": change(now[kpi.name], before[kpi.name]) if kpi.comparable else None,
            }
            for kpi in KPIS
        ]
    )
