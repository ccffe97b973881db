"""Cyber defence's exposure: validations that should not happen (revoked, unknown or
expired certificates), client-server pairs seen for the first time, and traffic from
zone to zone. The exposure page and the cyber report's last two sections show these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashboards import charts, queries
from dashboards.figures.model import Ask, Figure, Kpi, Table, total
from dashboards.formatting import number

if TYPE_CHECKING:
    import pandas as pd

    from dashboards.queries import Filters

NO_ZONE_TRAFFIC = "No validation of a known server in this period."
_RISKS = (
    ("revoked", "Clients validating revoked certificates"),
    ("unknown", "Clients validating unknown certificates"),
    ("expired", "Clients validating expired certificates"),
)


@dataclass(frozen=True)
class Exposure:
    """The period's risky validations, new edges and zone traffic, asked once; each
    method builds one figure."""

    risky: pd.DataFrame  # queries.risky_validations
    clients: dict[str, int]  # queries.risky_clients
    edges: pd.DataFrame  # queries.new_edges_daily
    matrix: pd.DataFrame  # queries.zone_matrix

    @classmethod
    def fetch(cls, ask: Ask, f: Filters) -> Exposure:
        return cls(
            ask(queries.risky_validations, f),
            ask(queries.risky_clients, f),
            ask(queries.new_edges_daily, f),
            ask(queries.zone_matrix, f),
        )

    def risky_clients(self) -> tuple[Kpi, ...]:
        """Distinct clients per risk: revoked, unknown, expired."""
        return tuple(Kpi(meaning, number(self.clients.get(risk, 0))) for risk, meaning in _RISKS)

    def risky_table(self) -> Table:
        return Table(
            "risky-validations",
            "Revoked, unknown and expired certificates validated",
            self.risky,
            empty="No revoked, unknown or expired certificate was validated in this period.",
            empty_is_good=True,
        )

    def edge_kpis(self) -> tuple[Kpi, ...]:
        edges = self.edges
        return (
            Kpi("New client-server edges", number(total(edges, "new_edges"))),
            Kpi(
                "of which across zones",
                number(total(edges, "new_edges", edges["kind"] == "across zones")),
            ),
        )

    def new_edges(self) -> Figure:
        title = "New client-server edges"
        return Figure(
            title,
            charts.stacked_bars(self.edges, "day", "new_edges", "kind", title)
            if not self.edges.empty
            else None,
            "No new client-server pair in this period.",
        )

    def zones(self) -> Figure:
        title = "Validations zone to zone"
        return Figure(
            title,
            charts.heatmap(self.matrix, "server_zone", "client_zone", "requests", title)
            if not self.matrix.empty
            else None,
            NO_ZONE_TRAFFIC,
        )

    def edges_table(self) -> Table:
        return Table("new-edges-daily", "New client-server edges per day", self.edges)

    def matrix_table(self) -> Table:
        return Table(
            "zone-matrix",
            "Validations from client zone to server zone",
            self.matrix,
            empty=NO_ZONE_TRAFFIC,
        )
