"""PKI team's certificates: what is under management, how it is issued and renewed, what
expires next. The PKI certificates page and the PKI report's first section show these;
the management summary shares the expiry outlook and the expiring list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashboards import charts, queries
from dashboards.figures.model import Ask, Figure, Kpi, Table, total
from dashboards.formatting import number

if TYPE_CHECKING:
    import pandas as pd

    from dashboards.queries import Filters

EXPIRING_DAYS = 30
INTRO = (
    "Certificates under management by CA, profile and key algorithm; issuance and renewal "
    "volume; renewals on time or late; what expires next."
)
NONE_MANAGED = "No certificate was under management at the end of the period."
NONE_ISSUED = "No certificate was issued in this period."
_BY = (
    ("ca", "Certificates under management by CA"),
    ("profile", "By profile"),
    ("key_algorithm", "By key algorithm"),
)


@dataclass(frozen=True)
class Certificates:
    """The period's certificate numbers, asked once; each method builds one figure."""

    f: Filters
    managed: pd.DataFrame  # queries.certificates_managed
    timing: pd.DataFrame  # queries.renewal_timing
    ahead: pd.DataFrame  # queries.expiries_ahead, EXPIRING_DAYS
    daily: pd.DataFrame  # queries.issuance_daily

    @classmethod
    def fetch(cls, ask: Ask, f: Filters) -> Certificates:
        return cls(
            f,
            ask(queries.certificates_managed, f),
            ask(queries.renewal_timing, f),
            ask(queries.expiries_ahead, f, EXPIRING_DAYS),
            ask(queries.issuance_daily, f),
        )

    def kpis(self) -> tuple[Kpi, ...]:
        renewals = total(self.timing, "renewals")
        on_time = total(self.timing, "renewals", self.timing["renewal_timing"] == "on_time")
        return (
            Kpi(
                "Certificates under management",
                number(total(self.managed, "certificates")),
                f"In the inventory, serving a server, valid on {self.f.end:%Y-%m-%d}.",
            ),
            Kpi("Renewals in the period", number(renewals)),
            Kpi(
                "Renewed on time",
                number(100.0 * on_time / renewals, " %") if renewals else "–",
                "Before the renewal window closed: at least a sixth of the old life left.",
            ),
            Kpi(
                f"Expiring within {EXPIRING_DAYS} days, not renewed",
                number(len(self.ahead)),
                lower_is_better=True,
            ),
        )

    def managed_by(self) -> tuple[Figure, ...]:
        """Certificates under management by CA, by profile, by key algorithm."""
        return tuple(
            Figure(
                title,
                charts.bars(
                    self.managed.groupby(field, dropna=False)["certificates"].sum().reset_index(),
                    field,
                    "certificates",
                    title,
                )
                if not self.managed.empty
                else None,
                NONE_MANAGED,
            )
            for field, title in _BY
        )

    def issuance(self) -> Figure:
        title = "Issuance and renewals per day"
        return Figure(
            title,
            charts.stacked_bars(self.daily, "day", "certificates", "renewal_timing", title)
            if not self.daily.empty
            else None,
            NONE_ISSUED,
        )

    def managed_table(self) -> Table:
        return Table(
            "certificates-managed",
            "Certificates under management by CA, profile and key algorithm",
            self.managed,
        )

    def timing_table(self) -> Table:
        return Table(
            "renewal-timing",
            "Renewal timing",
            self.timing,
            caption="on_time: before certsight's renewal window closed (at least a sixth of "
            "the old certificate's life left); late: after it, before expiry; after_expiry: "
            "the server ran on an expired certificate.",
            empty="No renewal in this period.",
        )

    def expiring_table(self) -> Table:
        return expiring_table(self.ahead)

    def daily_table(self) -> Table:
        return Table("issuance-daily", "Issuance per day", self.daily)


def expiring_table(ahead: pd.DataFrame) -> Table:
    """Servers whose current certificate expires within EXPIRING_DAYS of the period's end
    and was not renewed by then (``queries.expiries_ahead``): the PKI team's work list,
    and management's list of what could fail next."""
    return Table(
        f"expiring-{EXPIRING_DAYS}-days",
        f"Certificates expiring in the next {EXPIRING_DAYS} days without a renewal",
        ahead,
        empty=f"No current certificate expires within {EXPIRING_DAYS} days of the period's end.",
        empty_is_good=True,
    )


def outlook(weeks: pd.DataFrame) -> Figure:
    """``queries.expiry_outlook`` as one bar per week ahead, labelled by the week's first
    day; drawn even when nothing expires (a row of zeros says so)."""
    return Figure(
        "Expiry outlook",
        charts.stacked_bars(
            weeks.assign(status="expiring", week=weeks["week_start"].astype(str)),
            "week",
            "certificates",
            "status",
            "Current certificates expiring per week ahead (by first day of the week)",
            temporal=False,
        ),
    )
