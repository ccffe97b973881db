"""PKI team's validation load: OCSP requests per CA, the share the CDN and caches absorb,
the responder's latency, errors, and CRL downloads. The PKI validation page and the PKI
report's second section show these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from dashboards import charts, queries
from dashboards.figures.model import Ask, Figure, Kpi, Table, total
from dashboards.formatting import number

if TYPE_CHECKING:
    from dashboards.queries import Filters

INTRO = (
    "OCSP requests per CA, the CDN and cache hit ratio, the responder's latency, and CRL fetches."
)
NO_TRAFFIC = "No OCSP traffic in this period."


@dataclass(frozen=True)
class Validation:
    """The period's validation traffic, asked once; each method builds one figure."""

    load: pd.DataFrame  # queries.validation_load
    crl: pd.DataFrame  # queries.crl_fetches

    @classmethod
    def fetch(cls, ask: Ask, f: Filters) -> Validation:
        return cls(ask(queries.validation_load, f), ask(queries.crl_fetches, f))

    def kpis(self) -> tuple[Kpi, ...]:
        requests = total(self.load, "requests")
        hits = total(self.load, "cache_hits")
        return (
            Kpi("OCSP requests", number(requests)),
            Kpi(
                "Answered from a cache",
                number(100.0 * hits / requests, " %") if requests else "–",
            ),
            Kpi(
                "Responder latency (mean)",
                number(queries.mean_latency(self.load), " ms"),
                "Time the responder itself took, over the requests that reached it.",
            ),
            Kpi("CRL downloads", number(total(self.crl, "fetches"))),
        )

    def requests(self) -> Figure:
        title = "OCSP requests per day and CA"
        return Figure(
            title,
            charts.stacked_bars(self.load, "day", "requests", "ca", title)
            if not self.load.empty
            else None,
            NO_TRAFFIC,
        )

    def hit_ratio(self) -> Figure:
        title = "Cache hit ratio (%)"
        return Figure(
            title,
            charts.lines(self.load, "day", "hit_ratio_percent", "ca", title)
            if not self.load.empty
            else None,
            NO_TRAFFIC,
        )

    def latency(self) -> Figure:
        title = "Responder latency (ms, mean)"
        return Figure(
            title,
            charts.lines(self.load, "day", "latency_ms", "ca", title)
            if not self.load.empty and self.load["latency_ms"].notna().any()
            else None,
            "No request reached the responder in this period.",
        )

    def crl_downloads(self) -> Figure:
        title = "CRL downloads per day"
        return Figure(
            title,
            charts.stacked_bars(self.crl, "day", "fetches", "crl", title)
            if not self.crl.empty
            else None,
            "No CRL was downloaded in this period.",
        )

    def by_ca_table(self) -> Table:
        return Table(
            "validation-by-ca",
            "Validation load per CA",
            validation_by_ca(self.load),
            caption="Latency: the responder's mean, weighted by requests.",
            empty=NO_TRAFFIC,
        )

    def load_table(self) -> Table:
        return Table("validation-load", "Validation load per day and CA", self.load)

    def crl_table(self) -> Table:
        return Table("crl-fetches", "CRL downloads per day", self.crl)


def validation_by_ca(load: pd.DataFrame) -> pd.DataFrame:
    """The period per CA from the daily load: requests, hit ratio, the responder's mean
    latency (queries.mean_latency: over the requests that reached it), errors."""
    if load.empty:
        return pd.DataFrame(
            columns=["ca", "requests", "cache_hits", "hit_ratio_percent", "latency_ms", "errors"]
        )
    rows = []
    for ca, part in load.groupby("ca", sort=True):
        requests = int(part["requests"].sum())
        hits = int(part["cache_hits"].sum())
        rows.append(
            {
                "ca": ca,
                "requests": requests,
                "cache_hits": hits,
                "hit_ratio_percent": round(100.0 * hits / requests, 1) if requests else None,
                "latency_ms": queries.mean_latency(part),
                "errors": int(part["errors"].sum()),
            }
        )
    return pd.DataFrame(rows).sort_values(["requests", "ca"], ascending=[False, True])
