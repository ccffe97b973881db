"""The PKI team's CA footprint by client type: which client software (User-Agent family
and version) relies on which CA, from OCSP requests and CRL fetches. It tells how to split
issuance across CAs by client type, and who is affected if a CA is retired or moves to a
new algorithm. The PKI footprint page and the PKI report show these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashboards import charts, queries
from dashboards.figures.model import Ask, Figure, Kpi, Table
from dashboards.formatting import number

if TYPE_CHECKING:
    import pandas as pd

    from dashboards.queries import Filters

INTRO = (
    "Which client software (User-Agent family and version) relies on which CA, from OCSP "
    "requests and CRL fetches: how to split issuance across CAs by client type, and who is "
    "affected if a CA is retired or moves to a new algorithm"
)
NOTHING = "No client validated a certificate of a known CA in this period."


@dataclass(frozen=True)
class Footprint:
    """The period's reliance of client software on CAs, asked once."""

    table: pd.DataFrame  # queries.ca_footprint
    clients: dict[str, int]  # queries.footprint_clients

    @classmethod
    def fetch(cls, ask: Ask, f: Filters) -> Footprint:
        return cls(ask(queries.ca_footprint, f), ask(queries.footprint_clients, f))

    def kpis(self) -> tuple[Kpi, ...]:
        table = self.table
        return (
            Kpi("CAs relied on", number(table["ca"].nunique() if not table.empty else 0)),
            Kpi(
                "Client software versions",
                number(
                    len(table[["client_software", "client_version"]].drop_duplicates())
                    if not table.empty
                    else 0
                ),
            ),
            Kpi("Clients relying on a CA", number(self.clients["clients"])),
            Kpi(
                "Clients relying on several CAs",
                number(self.clients["several_cas"]),
                "They validate certificates of more than one CA in the period.",
            ),
        )

    def heatmap(self) -> Figure:
        """Clients per CA and client family (versions summed: a client counts once per
        family and CA only when it ran one version, so the table has the exact counts)."""
        title = "Clients by CA and client software (summed over versions)"
        cells = (
            self.table.groupby(["ca", "client_software"])["clients"].sum().reset_index()
            if not self.table.empty
            else self.table
        )
        return Figure(
            title,
            charts.heatmap(cells, "ca", "client_software", "clients", title)
            if not self.table.empty
            else None,
            NOTHING,
        )

    def footprint_table(self) -> Table:
        return Table(
            "ca-footprint",
            "Client software by CA",
            self.table,
            caption="clients_on_this_ca_only: clients that validated no other CA's "
            "certificates in the period, the first to check before retiring the CA.",
            empty=NOTHING,
        )
