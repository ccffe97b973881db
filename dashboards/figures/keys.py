"""Management's key exposure: how long a private key stays in service (issuance to the
last validation of its certificate), by profile, against the window the seed article
argues for, and how long renewals take to be deployed. The management summary page and
the management report show these.

The argument (docs/dashboards.md): every certificate brings a new key, so a key stolen at
a random moment of its service stays useful for the rest of it, half its service on
average. Renewing monthly keeps a key in service about 30 days, so a theft gives about two
weeks; a year-long certificate gives months.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from dashboards import charts, queries
from dashboards.figures.model import Ask, Figure, Kpi, Table
from dashboards.formatting import number

if TYPE_CHECKING:
    from dashboards.queries import Filters

# Monthly renewal: a key serves about a month, and a theft at a random moment leaves half
# of that, "about two weeks" in the seed article.
MONTHLY_SERVICE_DAYS = 30
SEED_EXPOSURE_DAYS = MONTHLY_SERVICE_DAYS / 2
INTRO = (
    "How long a private key stays in service (issuance to the last validation of its "
    "certificate), for keys retired in the period, by profile; a key stolen at a random "
    f"moment stays useful for half that on average. Monthly renewal keeps a key about "
    f"{MONTHLY_SERVICE_DAYS} days, about {SEED_EXPOSURE_DAYS:.0f} days of exposure after a "
    "theft. Deployment lag: a renewal's issuance to the first validation of the new "
    "certificate."
)
NO_RETIRED = "No key left service in this period."
NO_RENEWAL = "No renewal was issued in this period."


def _overall(table: pd.DataFrame) -> dict[str, Any]:
    """The all-profiles row (``profile`` null), or an empty dict."""
    if table.empty:
        return {}
    rows = table[table["profile"].isna()]
    return {str(k): v for k, v in rows.iloc[0].items()} if not rows.empty else {}


def _days(value: Any) -> str:
    return number(value, " d")


def _hours(value: Any) -> str:
    return number(value, " h")


@dataclass(frozen=True)
class KeyExposure:
    """The period's key service and deployment lag, asked once; each method builds one
    figure."""

    service: pd.DataFrame  # queries.key_exposure
    lag: pd.DataFrame  # queries.deployment_lag

    @classmethod
    def fetch(cls, ask: Ask, f: Filters) -> KeyExposure:
        return cls(ask(queries.key_exposure, f), ask(queries.deployment_lag, f))

    def kpis(self) -> tuple[Kpi, ...]:
        served = _overall(self.service)
        lag = _overall(self.lag)
        return (
            Kpi(
                "Key in service, mean",
                _days(served.get("mean_service_days")),
                "Issuance to the last validation of the certificate, for keys retired in "
                f"the period (all profiles). Monthly renewal: about {MONTHLY_SERVICE_DAYS} d.",
                lower_is_better=True,
            ),
            Kpi(
                "Key in service, 90th percentile",
                _days(served.get("p90_service_days")),
                "Nine keys in ten left service sooner than this.",
                lower_is_better=True,
            ),
            Kpi(
                "Exposure after a theft, mean",
                _days(served.get("mean_exposure_days")),
                "Half the mean service: what a key stolen at a random moment leaves an "
                f"attacker. The seed's window for monthly renewal: {SEED_EXPOSURE_DAYS:.0f} d.",
                lower_is_better=True,
            ),
            Kpi(
                "Deployment lag, mean",
                _hours(lag.get("mean_lag_hours")),
                "A renewal's issuance to the first validation of the new certificate, for "
                "renewals issued in the period.",
                lower_is_better=True,
            ),
            Kpi(
                "Deployment lag, 90th percentile",
                _hours(lag.get("p90_lag_hours")),
                "Nine renewals in ten were first validated sooner than this.",
                lower_is_better=True,
            ),
        )

    def by_profile(self) -> Figure:
        """Mean and 90th percentile per profile, against monthly renewal's 30 days."""
        title = "Days a key stays in service, by profile"
        per_profile = self.service.dropna(subset=["profile"])
        melted = per_profile.melt(
            id_vars="profile",
            value_vars=["mean_service_days", "p90_service_days"],
            var_name="measure",
            value_name="days",
        ).replace({"measure": {"mean_service_days": "mean", "p90_service_days": "90th pct"}})
        return Figure(
            title,
            charts.grouped_bars_with_rule(
                melted,
                "profile",
                "days",
                "measure",
                MONTHLY_SERVICE_DAYS,
                f"monthly renewal ({MONTHLY_SERVICE_DAYS} d)",
                title,
            )
            if not per_profile.empty
            else None,
            NO_RETIRED,
        )

    def service_table(self) -> Table:
        shown = self.service.assign(
            profile=self.service["profile"].fillna("all profiles"),
            seed_exposure_days=SEED_EXPOSURE_DAYS,
        )
        return Table(
            "key-exposure",
            "Key service and exposure by profile, against the seed's window",
            shown,
            caption=f"seed_exposure_days: monthly renewal's {SEED_EXPOSURE_DAYS:.0f} days "
            "(about two weeks) of exposure after a theft.",
            empty=NO_RETIRED,
        )

    def lag_table(self) -> Table:
        return Table(
            "deployment-lag",
            "Deployment lag of renewals by profile",
            self.lag.assign(profile=self.lag["profile"].fillna("all profiles")),
            empty=NO_RENEWAL,
        )
