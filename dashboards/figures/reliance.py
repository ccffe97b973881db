"""Cyber defence's reliance at a glance: the most relied-upon servers and the clients with
the most servers (what the server and client pages open on), and a server's neighbourhood,
its clients by zone. The pages and the cyber report show these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashboards import charts, queries
from dashboards.figures.model import Ask, Figure, Kpi, Table
from dashboards.formatting import number

if TYPE_CHECKING:
    import pandas as pd

    from dashboards.queries import Filters

RANKED = 50
NO_EDGES = "No client validated a server in this period."


@dataclass(frozen=True)
class Ranked:
    """The period's most relied-upon servers and the clients with the most servers."""

    servers: pd.DataFrame  # queries.ranked_servers
    clients: pd.DataFrame  # queries.ranked_clients

    @classmethod
    def fetch(cls, ask: Ask, f: Filters) -> Ranked:
        return cls(ask(queries.ranked_servers, f, RANKED), ask(queries.ranked_clients, f, RANKED))

    def kpis(self) -> tuple[Kpi, ...]:
        top_server = self.servers.iloc[0] if not self.servers.empty else None
        top_client = self.clients.iloc[0] if not self.clients.empty else None
        return (
            Kpi(
                "Most clients on one server",
                number(top_server["clients"] if top_server is not None else 0),
                f"{top_server['server']}" if top_server is not None else None,
            ),
            Kpi(
                "Most servers of one client",
                number(top_client["servers"] if top_client is not None else 0),
            ),
        )

    def servers_table(self) -> Table:
        return Table(
            "relied-upon-servers",
            "Most relied-upon servers (by clients, then client zones)",
            self.servers,
            shown=20,
            empty=NO_EDGES,
        )

    def clients_table(self) -> Table:
        return Table(
            "clients-most-servers",
            "Clients with the most servers",
            self.clients,
            shown=20,
            empty=NO_EDGES,
        )


def clients_by_zone(server: str, clients: pd.DataFrame) -> Figure:
    """A server's neighbourhood: its clients in the period per zone (``clients`` is
    ``queries.server_reliance``)."""
    title = f"Clients of {server} by zone"
    zones = (
        clients.groupby("client_zone", as_index=False).agg(
            clients=("client_ip", "count"), requests=("requests", "sum")
        )
        if not clients.empty
        else clients
    )
    return Figure(
        title,
        charts.bars(zones, "client_zone", "clients", title) if not clients.empty else None,
        "No client validated this server in this period.",
    )
