"""The cyber defence report: the open alert queue with a one-line summary of each alert's
evidence, risky validations, new edges and zones (the exposure page's figures), and the
most relied-upon servers and clients with the top server's neighbourhood (what the server
and client pages open on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboards import queries
from dashboards.figures import alerts
from dashboards.figures.exposure import Exposure
from dashboards.figures.model import Table
from dashboards.figures.reliance import Ranked, clients_by_zone
from dashboards.reports.evidence import evidence_summary
from dashboards.reports.model import Section

if TYPE_CHECKING:
    import pandas as pd

    from dashboards.figures.model import Ask
    from dashboards.queries import Filters
    from dashboards.reports.evidence import Privacy

QUEUE_SHOWN = 50


def sections(ask: Ask, f: Filters, privacy: Privacy) -> list[Section]:
    """Alerts, risky validations, new edges and zones, reliance."""
    counts = ask(queries.alert_counts, f)
    queue = open_queue(ask, f, privacy)
    exposure = Exposure.fetch(ask, f)
    ranked = Ranked.fetch(ask, f)
    top = str(ranked.servers["server"].iloc[0]) if not ranked.servers.empty else None
    neighbourhood = (clients_by_zone(top, ask(queries.server_reliance, top, f)),) if top else ()
    return [
        Section(
            "alerts",
            "Alerts",
            "Open findings of the detectors active in the period, by severity and detector, "
            f"and the queue worst first (the first {QUEUE_SHOWN} with a summary of their "
            "evidence).",
            kpis=alerts.open_by_severity(counts),
            figures=(alerts.by_detector(counts), alerts.by_day(queue)),
            tables=(
                alerts.counts_table(counts),
                Table(
                    "alert-queue",
                    "Open alert queue, worst first",
                    queue,
                    shown=QUEUE_SHOWN,
                    caption="Evidence is summarised; `certsight alerts --format json` has it "
                    "whole.",
                    empty=alerts.NO_OPEN_ALERT,
                ),
            ),
        ),
        Section(
            "risky",
            "Risky validations",
            "Revoked, unknown and expired certificates still being validated: each row is a "
            "client population about to trust, or already trusting, something it should not.",
            kpis=exposure.risky_clients(),
            tables=(exposure.risky_table(),),
        ),
        Section(
            "edges",
            "New edges and zones",
            "Client-server pairs seen for the first time, and validation traffic from each "
            "client zone to each server zone.",
            kpis=exposure.edge_kpis(),
            figures=(exposure.new_edges(), exposure.zones()),
            tables=(exposure.edges_table(), exposure.matrix_table()),
        ),
        Section(
            "reliance",
            "Most relied-upon servers and clients",
            "The servers most clients relied on in the period (then most client zones), the "
            "clients that relied on the most servers, and the first server's neighbourhood: "
            "its clients by zone.",
            kpis=ranked.kpis(),
            figures=neighbourhood,
            tables=(ranked.servers_table(), ranked.clients_table()),
        ),
    ]


def open_queue(ask: Ask, f: Filters, privacy: Privacy) -> pd.DataFrame:
    """The alert queue of the page (open alerts active in the period, worst first), with
    a one-line evidence summary (addresses in it as the privacy settings want)."""
    queue = ask(queries.alert_queue, f)
    evidence = ask(queries.alert_evidence, queue["alert_key"].tolist()) if not queue.empty else None
    found = (
        dict(zip(evidence["alert_key"], evidence["evidence"], strict=True))
        if evidence is not None
        else {}
    )
    summaries = [evidence_summary(found.get(key), privacy) for key in queue["alert_key"]]
    shown = queue.drop(columns=["status", "raised_at"]).assign(evidence=summaries)
    first = ["severity", "detector", "server", "client_ip", "evidence"]
    return shown[first + [c for c in shown.columns if c not in first]]
