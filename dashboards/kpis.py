"""The management KPIs: what each one is called, how it is printed and compared. The
summary page and the management report show the same list from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dashboards.formatting import change, number


@dataclass(frozen=True)
class KpiSpec:
    name: str  # the key in queries.kpis
    label: str
    unit: str  # printed after the value: " %", " d" or ""
    help: str
    lower_is_better: bool = False
    trend: str | None = None  # its column in queries.weekly_trends, for a sparkline
    # False for a state of the warehouse now (an alert's status has no history), which
    # has no value for an earlier period to compare with.
    comparable: bool = True

    def value(self, kpis: dict[str, Any]) -> str:
        return number(kpis[self.name], self.unit)

    def delta(self, now: dict[str, Any], before: dict[str, Any]) -> str | None:
        """The change from the period before, in points for a percentage; None when there
        is nothing to compare or nothing moved ("+0" would be drawn as a rise)."""
        if not self.comparable:
            return None
        unit = " pts" if self.unit == " %" else self.unit
        moved = change(now[self.name], before[self.name], unit)
        return None if moved == f"+0{unit}" else moved


KPIS = (
    KpiSpec(
        "certificates_managed",
        "Certificates managed",
        "",
        "In the inventory, serving a server, started, not expired and not revoked at the "
        "end of the period.",
    ),
    KpiSpec(
        "automation_rate_percent",
        "Automation rate",
        " %",
        "Share of certificates issued in the period by automation (ACME, agents, APIs).",
        trend="automation_rate_percent",
    ),
    KpiSpec(
        "median_validity_days",
        "Median validity",
        " d",
        "Median lifetime of the certificates issued in the period.",
        lower_is_better=True,
        trend="median_validity_days",
    ),
    KpiSpec(
        "on_time_renewal_percent",
        "On-time renewals",
        " %",
        "Renewals issued before certsight's renewal window closed (at least a sixth of "
        "the old certificate's life left).",
        trend="on_time_renewal_percent",
    ),
    KpiSpec(
        "open_critical_alerts",
        "Open critical alerts",
        "",
        "Critical findings of the detectors not cleared yet, now (statuses have no history, "
        "so there is no earlier value to compare with).",
        lower_is_better=True,
        comparable=False,
    ),
    KpiSpec(
        "incidents_prevented",
        "Incidents prevented",
        "",
        "Renewals on time by certsight's renewal rule: each would otherwise have been a "
        "service failing its TLS handshakes. Late renewals are counted apart.",
    ),
    KpiSpec(
        "late_renewals",
        "Late renewals",
        "",
        "Renewals after the renewal window closed but before expiry: outages averted "
        "narrowly, not by the process (not counted as incidents prevented).",
        lower_is_better=True,
    ),
    KpiSpec("issued", "Certificates issued", "", "Certificates issued in the period."),
    KpiSpec(
        "serious_alerts_raised",
        "Serious alerts raised",
        "",
        "Critical and high findings whose first event falls in the period.",
    ),
)
SUMMARY_KPIS = KPIS[:7]  # the one-screen summary's row
