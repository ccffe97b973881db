"""PKI team's view of who uses the published artefacts: trust-store and agent downloads by
zone and version, and which agent versions actually run (their User-Agent). The PKI
adoption page and the PKI report's third section show these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashboards import charts, queries
from dashboards.figures.model import Ask, Figure, Kpi, Table, total
from dashboards.formatting import number

if TYPE_CHECKING:
    import pandas as pd

    from dashboards.queries import Filters

INTRO = (
    "Downloads of trust stores and the certsight agent by zone and version, and the agent "
    "versions seen validating."
)
NO_AGENT = "No certsight agent validated anything in this period."
_KINDS = (
    ("truststore", "Trust-store downloads by zone and version"),
    ("agent", "Agent downloads by zone and version"),
)


@dataclass(frozen=True)
class Adoption:
    """The period's downloads and running agents, asked once; each method builds one
    figure."""

    downloads: pd.DataFrame  # queries.downloads_by_zone
    adoption: pd.DataFrame  # queries.agent_adoption

    @classmethod
    def fetch(cls, ask: Ask, f: Filters) -> Adoption:
        return cls(ask(queries.downloads_by_zone, f), ask(queries.agent_adoption, f))

    def kpis(self) -> tuple[Kpi, ...]:
        downloads, adoption = self.downloads, self.adoption
        running = total(adoption, "clients")
        latest = max(adoption["version"], key=queries.version_order) if not adoption.empty else None
        on_latest = total(adoption, "clients", adoption["version"] == latest) if latest else 0
        return (
            Kpi(
                "Trust-store downloads",
                number(total(downloads, "downloads", downloads["kind"] == "truststore")),
            ),
            Kpi(
                "Agent downloads",
                number(total(downloads, "downloads", downloads["kind"] == "agent")),
            ),
            Kpi(
                "Agents on the newest version",
                number(100.0 * on_latest / running, " %") if running else "–",
                f"Clients validating with certsight-agent/{latest} among {running:,} agents seen."
                if latest
                else None,
            ),
        )

    def downloads_by_kind(self) -> tuple[Figure, ...]:
        """Trust-store downloads, then agent downloads, by zone and version."""
        figures = []
        for kind, title in _KINDS:
            part = self.downloads[self.downloads["kind"] == kind]
            figures.append(
                Figure(
                    title,
                    charts.stacked_bars(part, "zone", "downloads", "version", title, temporal=False)
                    if not part.empty
                    else None,
                    f"No {kind} downloads in this period.",
                )
            )
        return tuple(figures)

    def versions(self) -> Figure:
        title = "Agent versions running (clients)"
        return Figure(
            title,
            charts.bars(self.adoption, "version", "clients", title)
            if not self.adoption.empty
            else None,
            NO_AGENT,
        )

    def downloads_table(self) -> Table:
        return Table(
            "downloads",
            "Downloads per zone, kind and version",
            self.downloads,
            empty="No trust-store or agent download in this period.",
        )

    def adoption_table(self) -> Table:
        return Table("agent-adoption", "Agent versions running", self.adoption, empty=NO_AGENT)
