"""The PKI team's report: the four PKI pages' figures, each section KPIs first, then
charts, then tables (the tables a page keeps in an expander or leaves to its CSV)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards.figures import adoption, certificates, footprint, validation
from dashboards.figures.adoption import Adoption
from dashboards.figures.certificates import Certificates
from dashboards.figures.footprint import Footprint
from dashboards.figures.validation import Validation
from dashboards.reports.model import Section

if TYPE_CHECKING:
    from dashboards.figures.model import Ask
    from dashboards.queries import Filters
    from dashboards.reports.evidence import Privacy


def sections(ask: Ask, f: Filters, privacy: Privacy) -> list[Section]:
    """Certificates and renewals, validation load, trust stores and agents, the CA
    footprint by client type."""
    del privacy  # no section of this report holds evidence; tables are handled for all
    made = Certificates.fetch(ask, f)
    load = Validation.fetch(ask, f)
    used = Adoption.fetch(ask, f)
    reach = Footprint.fetch(ask, f)
    return [
        Section(
            "certificates",
            "Certificates and renewals",
            certificates.INTRO,
            kpis=made.kpis(),
            figures=(*made.managed_by(), made.issuance()),
            tables=(
                made.managed_table(),
                made.timing_table(),
                made.expiring_table(),
                made.daily_table(),
            ),
        ),
        Section(
            "validation",
            "Validation load",
            validation.INTRO,
            kpis=load.kpis(),
            figures=(load.requests(), load.hit_ratio(), load.latency(), load.crl_downloads()),
            tables=(load.by_ca_table(), load.load_table(), load.crl_table()),
        ),
        Section(
            "adoption",
            "Trust stores and agents",
            adoption.INTRO,
            kpis=used.kpis(),
            figures=(*used.downloads_by_kind(), used.versions()),
            tables=(used.downloads_table(), used.adoption_table()),
        ),
        Section(
            "footprint",
            "CA footprint by client type",
            footprint.INTRO + ".",
            kpis=reach.kpis(),
            figures=(reach.heatmap(),),
            tables=(reach.footprint_table(),),
        ),
    ]
