"""Each audience's report: the questions its dashboard pages ask (``dashboards.queries``),
arranged KPIs first, then charts, then tables. The numbers are the pages' numbers because
the statements are the same ones.

Client addresses are replaced by their keyed pseudonyms (``dashboards.privacy``) in every
table and in alert evidence when a key is given; the caller decides when (settings).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from dashboards import charts, queries
from dashboards.formatting import change, number
from dashboards.kpis import KPIS
from dashboards.privacy import pseudonym, pseudonymise
from dashboards.queries import Filters
from dashboards.reports.model import Figure, Kpi, Report, Section, Table

if TYPE_CHECKING:
    import duckdb

QUEUE_SHOWN = 50
EXPIRING_DAYS = 30
EVIDENCE_CHARACTERS = 240


def build_report(
    con: duckdb.DuckDBPyConnection,
    audience: str,
    period: str,
    f: Filters,
    *,
    generated_at: datetime,
    privacy_key: bytes | None,
) -> Report:
    """The report of ``audience`` over the days of ``f``. With ``privacy_key``, client
    addresses appear as pseudonyms only."""
    builders: dict[str, Callable[[duckdb.DuckDBPyConnection, Filters, _Privacy], list[Section]]]
    builders = {"pki": _pki, "cyber": _cyber, "management": _management}
    if audience not in builders:
        raise ValueError(f"not an audience: {audience!r}")
    window = queries.data_window(con)
    privacy = _Privacy(privacy_key)
    sections = tuple(
        replace(
            section,
            tables=tuple(replace(t, frame=privacy.table(t.frame)) for t in section.tables),
        )
        for section in builders[audience](con, f, privacy)
    )
    return Report(
        audience=audience,
        period=period,
        filters=f,
        window=window,
        generated_at=generated_at,
        sections=sections,
        pseudonymised=privacy_key is not None,
        notices=coverage_notices(window, f),
    )


def coverage_notices(window: dict[str, Any], f: Filters) -> tuple[str, ...]:
    """What the reader must know when the period and the data do not line up."""
    first: date | None = window["first_day"]
    last: date | None = window["last_day"]
    if first is None or last is None:
        return ("The warehouse holds no validation traffic yet: traffic sections are empty.",)
    if f.end < first or f.start > last:
        return (
            f"The period {f.start:%Y-%m-%d} – {f.end:%Y-%m-%d} lies outside the data "
            f"({first:%Y-%m-%d} – {last:%Y-%m-%d}): traffic sections are empty, and "
            f"inventory figures are as of {f.end:%Y-%m-%d}.",
        )
    if f.start < first or f.end > last:
        return (
            f"The data covers only {max(f.start, first):%Y-%m-%d} – "
            f"{min(f.end, last):%Y-%m-%d} of this period.",
        )
    return ()


# -- formatting -------------------------------------------------------------------------


def _total(table: pd.DataFrame, column: str, where: pd.Series | None = None) -> int:
    if table.empty:
        return 0
    values = table.loc[where, column] if where is not None else table[column]
    return int(values.sum())


# -- privacy ----------------------------------------------------------------------------


class _Privacy:
    def __init__(self, key: bytes | None) -> None:
        self.key = key

    def table(self, frame: pd.DataFrame) -> pd.DataFrame:
        return pseudonymise(frame, self.key) if self.key is not None else frame

    def evidence(self, value: Any) -> Any:
        """Every IP address anywhere in the evidence (sample_clients, ...) pseudonymised."""
        if self.key is None:
            return value
        if isinstance(value, dict):
            return {k: self.evidence(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.evidence(v) for v in value]
        if isinstance(value, str):
            try:
                ipaddress.ip_address(value)
            except ValueError:
                return value
            return pseudonym(value, self.key)
        return value


def evidence_summary(text: str | None, privacy: _Privacy) -> str:
    """One line from an alert's evidence JSON: why, then the facts, lists shortened."""
    if not text:
        return ""
    try:
        data = privacy.evidence(json.loads(text))
    except ValueError:
        return _shorten(str(text))
    parts: list[str] = []
    if isinstance(data, dict):
        why = data.pop("why", None)
        if why:
            parts.append(str(why))
        parts.extend(f"{key.replace('_', ' ')}: {_brief(value)}" for key, value in data.items())
    else:
        parts.append(_brief(data))
    return _shorten("; ".join(parts))


def _brief(value: Any) -> str:
    if isinstance(value, list):
        shown = ", ".join(_brief(v) for v in value[:3])
        return shown + (f" (+{len(value) - 3} more)" if len(value) > 3 else "")
    if isinstance(value, dict):
        return " ".join(f"{k} {_brief(v)}" for k, v in value.items())
    return str(value)


def _shorten(text: str) -> str:
    return text if len(text) <= EVIDENCE_CHARACTERS else text[: EVIDENCE_CHARACTERS - 1] + "…"


# -- PKI team ---------------------------------------------------------------------------


def _pki(con: duckdb.DuckDBPyConnection, f: Filters, privacy: _Privacy) -> list[Section]:
    return [
        _pki_certificates(con, f, privacy),
        _pki_validation(con, f, privacy),
        _pki_adoption(con, f, privacy),
    ]


def _pki_certificates(con: duckdb.DuckDBPyConnection, f: Filters, privacy: _Privacy) -> Section:
    managed = queries.certificates_managed(con, f)
    timing = queries.renewal_timing(con, f)
    ahead = queries.expiries_ahead(con, f, EXPIRING_DAYS)
    daily = queries.issuance_daily(con, f)
    renewals = _total(timing, "renewals")
    on_time = _total(timing, "renewals", timing["renewal_timing"] == "on_time")
    figures = [
        Figure(
            title,
            charts.bars(
                managed.groupby(field, dropna=False)["certificates"].sum().reset_index(),
                field,
                "certificates",
                title,
            )
            if not managed.empty
            else None,
            "No certificate was under management at the end of the period.",
        )
        for field, title in (
            ("ca", "Certificates under management by CA"),
            ("profile", "By profile"),
            ("key_algorithm", "By key algorithm"),
        )
    ]
    figures.append(
        Figure(
            "Issuance and renewals per day",
            charts.stacked_bars(
                daily, "day", "certificates", "renewal_timing", "Issuance and renewals per day"
            )
            if not daily.empty
            else None,
            "No certificate was issued in this period.",
        )
    )
    return Section(
        "certificates",
        "Certificates and renewals",
        "Certificates under management by CA, profile and key algorithm; issuance and "
        "renewal volume; renewals on time or late; what expires next.",
        kpis=(
            Kpi(
                "Certificates under management",
                number(_total(managed, "certificates")),
                f"In the inventory, serving a server, valid on {f.end:%Y-%m-%d}.",
            ),
            Kpi("Renewals in the period", number(renewals)),
            Kpi(
                "Renewed on time",
                number(100.0 * on_time / renewals, " %") if renewals else "–",
                "At least a tenth of the previous certificate's life left at renewal.",
            ),
            Kpi(f"Expiring within {EXPIRING_DAYS} days, not renewed", number(len(ahead))),
        ),
        figures=tuple(figures),
        tables=(
            Table(
                "certificates-managed",
                "Certificates under management by CA, profile and key algorithm",
                managed,
            ),
            Table(
                "renewal-timing",
                "Renewal timing",
                timing,
                caption="on_time: at least a tenth of the old certificate's life left; late: "
                "less; after_expiry: the server ran on an expired certificate.",
                empty="No renewal in this period.",
            ),
            Table(
                f"expiring-{EXPIRING_DAYS}-days",
                f"Expiring within {EXPIRING_DAYS} days and not renewed",
                ahead,
                empty=f"No current certificate expires within {EXPIRING_DAYS} days of the "
                "period's end.",
            ),
            Table("issuance-daily", "Issuance per day", daily),
        ),
    )


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


def _pki_validation(con: duckdb.DuckDBPyConnection, f: Filters, privacy: _Privacy) -> Section:
    load = queries.validation_load(con, f)
    crl = queries.crl_fetches(con, f)
    per_ca = validation_by_ca(load)
    requests = _total(load, "requests")
    hits = _total(load, "cache_hits")
    latency = queries.mean_latency(load)
    none = "No OCSP traffic in this period."
    return Section(
        "validation",
        "Validation load",
        "OCSP requests per CA, the CDN and cache hit ratio, the responder's latency, "
        "and CRL fetches.",
        kpis=(
            Kpi("OCSP requests", number(requests)),
            Kpi(
                "Answered from a cache", number(100.0 * hits / requests, " %") if requests else "–"
            ),
            Kpi(
                "Responder latency (mean)",
                number(latency, " ms"),
                "Time the responder itself took, over the requests that reached it.",
            ),
            Kpi("CRL downloads", number(_total(crl, "fetches"))),
        ),
        figures=(
            Figure(
                "OCSP requests per day and CA",
                charts.stacked_bars(load, "day", "requests", "ca", "OCSP requests per day and CA")
                if not load.empty
                else None,
                none,
            ),
            Figure(
                "Cache hit ratio (%)",
                charts.lines(load, "day", "hit_ratio_percent", "ca", "Cache hit ratio (%)")
                if not load.empty
                else None,
                none,
            ),
            Figure(
                "Responder latency (ms, mean)",
                charts.lines(load, "day", "latency_ms", "ca", "Responder latency (ms, mean)")
                if not load.empty and load["latency_ms"].notna().any()
                else None,
                "No request reached the responder in this period.",
            ),
            Figure(
                "CRL downloads per day",
                charts.stacked_bars(crl, "day", "fetches", "crl", "CRL downloads per day")
                if not crl.empty
                else None,
                "No CRL was downloaded in this period.",
            ),
        ),
        tables=(
            Table(
                "validation-by-ca",
                "Validation load per CA",
                per_ca,
                caption="Latency: the responder's mean, weighted by requests.",
                empty=none,
            ),
            Table("validation-load", "Validation load per day and CA", load),
            Table("crl-fetches", "CRL downloads per day", crl),
        ),
    )


def _pki_adoption(con: duckdb.DuckDBPyConnection, f: Filters, privacy: _Privacy) -> Section:
    downloads = queries.downloads_by_zone(con, f)
    adoption = queries.agent_adoption(con, f)
    running = _total(adoption, "clients")
    latest = max(adoption["version"], key=queries.version_order) if not adoption.empty else None
    on_latest = _total(adoption, "clients", adoption["version"] == latest) if latest else 0
    figures = []
    for kind, title in (
        ("truststore", "Trust-store downloads by zone and version"),
        ("agent", "Agent downloads by zone and version"),
    ):
        part = downloads[downloads["kind"] == kind]
        figures.append(
            Figure(
                title,
                charts.stacked_bars(part, "zone", "downloads", "version", title, temporal=False)
                if not part.empty
                else None,
                f"No {kind} downloads in this period.",
            )
        )
    figures.append(
        Figure(
            "Agent versions running (clients)",
            charts.bars(adoption, "version", "clients", "Agent versions running (clients)")
            if not adoption.empty
            else None,
            "No certsight agent validated anything in this period.",
        )
    )
    return Section(
        "adoption",
        "Trust stores and agents",
        "Downloads of trust stores and the certsight agent by zone and version, and the "
        "agent versions seen validating.",
        kpis=(
            Kpi(
                "Trust-store downloads",
                number(_total(downloads, "downloads", downloads["kind"] == "truststore")),
            ),
            Kpi(
                "Agent downloads",
                number(_total(downloads, "downloads", downloads["kind"] == "agent")),
            ),
            Kpi(
                "Agents on the newest version",
                number(100.0 * on_latest / running, " %") if running else "–",
                f"Clients validating with certsight-agent/{latest} among {running:,} agents seen."
                if latest
                else None,
            ),
        ),
        figures=tuple(figures),
        tables=(
            Table(
                "downloads",
                "Downloads per zone, kind and version",
                downloads,
                empty="No trust-store or agent download in this period.",
            ),
            Table(
                "agent-adoption",
                "Agent versions running",
                adoption,
                empty="No certsight agent validated anything in this period.",
            ),
        ),
    )


# -- Cyber defence ----------------------------------------------------------------------


def _cyber(con: duckdb.DuckDBPyConnection, f: Filters, privacy: _Privacy) -> list[Section]:
    return [
        _cyber_alerts(con, f, privacy),
        _cyber_risky(con, f, privacy),
        _cyber_edges(con, f, privacy),
    ]


def open_queue(con: duckdb.DuckDBPyConnection, f: Filters, privacy: _Privacy) -> pd.DataFrame:
    """The alert queue of the page (open alerts active in the period, worst first), with
    a one-line evidence summary (addresses in it as the privacy settings want)."""
    queue = queries.alert_queue(con, f)
    evidence = queries.alert_evidence(con, queue["alert_key"].tolist()) if not queue.empty else None
    found = (
        dict(zip(evidence["alert_key"], evidence["evidence"], strict=True))
        if evidence is not None
        else {}
    )
    summaries = [evidence_summary(found.get(key), privacy) for key in queue["alert_key"]]
    shown = queue.drop(columns=["status", "raised_at"]).assign(evidence=summaries)
    first = ["severity", "detector", "server", "client_ip", "evidence"]
    return shown[first + [c for c in shown.columns if c not in first]]


def _cyber_alerts(con: duckdb.DuckDBPyConnection, f: Filters, privacy: _Privacy) -> Section:
    counts = queries.alert_counts(con, f)
    queue = open_queue(con, f, privacy)
    by_severity = {str(k): int(v) for k, v in counts.groupby("severity")["alerts"].sum().items()}
    none = "No open alert in this period."
    return Section(
        "alerts",
        "Alerts",
        "Open findings of the detectors active in the period, by severity and detector, and "
        f"the queue worst first (the first {QUEUE_SHOWN} with a summary of their evidence).",
        kpis=tuple(
            Kpi(f"Open {severity}", number(by_severity.get(severity, 0)))
            for severity in queries.SEVERITIES
        ),
        figures=(
            Figure(
                "Open alerts by detector",
                charts.alerts_by_detector(counts) if not counts.empty else None,
                none,
            ),
            Figure(
                "Alerts by day of their last event",
                charts.alerts_by_day(queue) if not queue.empty else None,
                none,
            ),
        ),
        tables=(
            Table("alert-counts", "Open alerts by severity and detector", counts, empty=none),
            Table(
                "alert-queue",
                "Open alert queue, worst first",
                queue,
                shown=QUEUE_SHOWN,
                caption="Evidence is summarised; `certsight alerts --format json` has it whole.",
                empty=none,
            ),
        ),
    )


def _cyber_risky(con: duckdb.DuckDBPyConnection, f: Filters, privacy: _Privacy) -> Section:
    risky = queries.risky_validations(con, f)
    clients = queries.risky_clients(con, f)
    return Section(
        "risky",
        "Risky validations",
        "Revoked, unknown and expired certificates still being validated: each row is a "
        "client population about to trust, or already trusting, something it should not.",
        kpis=tuple(
            Kpi(meaning, number(clients.get(risk, 0)))
            for risk, meaning in (
                ("revoked", "Clients validating revoked certificates"),
                ("unknown", "Clients validating unknown certificates"),
                ("expired", "Clients validating expired certificates"),
            )
        ),
        tables=(
            Table(
                "risky-validations",
                "Revoked, unknown and expired certificates validated",
                risky,
                empty="No revoked, unknown or expired certificate was validated in this period.",
            ),
        ),
    )


def _cyber_edges(con: duckdb.DuckDBPyConnection, f: Filters, privacy: _Privacy) -> Section:
    edges = queries.new_edges_daily(con, f)
    matrix = queries.zone_matrix(con, f)
    return Section(
        "edges",
        "New edges and zones",
        "Client-server pairs seen for the first time, and validation traffic from each "
        "client zone to each server zone.",
        kpis=(
            Kpi("New client-server edges", number(_total(edges, "new_edges"))),
            Kpi(
                "of which across zones",
                number(_total(edges, "new_edges", edges["kind"] == "across zones")),
            ),
        ),
        figures=(
            Figure(
                "New client-server edges",
                charts.stacked_bars(edges, "day", "new_edges", "kind", "New client-server edges")
                if not edges.empty
                else None,
                "No new client-server pair in this period.",
            ),
            Figure(
                "Validations zone to zone",
                charts.heatmap(
                    matrix, "server_zone", "client_zone", "requests", "Validations zone to zone"
                )
                if not matrix.empty
                else None,
                "No validation of a known server in this period.",
            ),
        ),
        tables=(
            Table("new-edges-daily", "New client-server edges per day", edges),
            Table(
                "zone-matrix",
                "Validations from client zone to server zone",
                matrix,
                empty="No validation of a known server in this period.",
            ),
        ),
    )


# -- Management -------------------------------------------------------------------------


def kpi_table(now: dict[str, Any], before: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "measure": kpi.name,
                "label": kpi.label,
                "this_period": now[kpi.name],
                "previous_period": before[kpi.name] if kpi.comparable else None,
                "change": change(now[kpi.name], before[kpi.name]) if kpi.comparable else None,
            }
            for kpi in KPIS
        ]
    )


def _management(con: duckdb.DuckDBPyConnection, f: Filters, privacy: _Privacy) -> list[Section]:
    now = queries.kpis(con, f)
    before = queries.kpis(con, f.previous())
    earlier = f.previous()
    trends = queries.weekly_trends(con, f)
    outlook = queries.expiry_outlook(con, f)
    bands = queries.validity_distribution(con, f)
    counts = queries.alert_counts(con, f)
    soon = queries.expiries_ahead(con, f, EXPIRING_DAYS)
    total = _total(bands, "certificates")
    share47 = _total(bands, "certificates", bands["band_order"] == 1) / total if total else 0.0
    severities = (
        counts.groupby("severity", sort=False)["alerts"].sum().reset_index()
        if not counts.empty
        else pd.DataFrame(columns=["severity", "alerts"])
    )
    melted = (
        trends.melt(
            id_vars="week",
            value_vars=["automation_rate_percent", "on_time_renewal_percent"],
            var_name="measure",
            value_name="percent",
        )
        if not trends.empty
        else trends
    )
    summary = Section(
        "summary",
        "Summary",
        "Certificates under management, how automated and how short-lived they are, renewals "
        f"on time, and what the detectors raised, against the {earlier.days} days before "
        f"({earlier.start:%Y-%m-%d} – {earlier.end:%Y-%m-%d}).",
        kpis=tuple(
            Kpi(
                kpi.label,
                kpi.value(now),
                kpi.help,
                previous=kpi.value(before) if kpi.comparable else None,
                delta=kpi.delta(now, before),
            )
            for kpi in KPIS
        ),
        figures=(
            Figure(
                "Weekly automation and on-time renewals",
                charts.lines(melted, "week", "percent", "measure", "Weekly automation and on-time")
                if not trends.empty
                else None,
                "No certificate was issued in this period.",
            ),
            Figure(
                "Expiry outlook",
                charts.expiry_outlook(outlook),
            ),
            Figure(
                "Validity against the 200 / 100 / 47-day limits",
                charts.bars(
                    bands, "band", "certificates", "Validity against the 200 / 100 / 47-day limits"
                )
                if not bands.empty
                else None,
                "No certificate was under management at the end of the period.",
            ),
            Figure(
                "Open alerts by detector",
                charts.alerts_by_detector(counts) if not counts.empty else None,
                "No open alerts in this period.",
            ),
        ),
        tables=(
            Table("kpis", "The numbers against the previous period", kpi_table(now, before)),
            Table(
                "weekly-trends",
                "Issuance per week",
                trends,
                empty="No certificate was issued in this period.",
            ),
            Table("expiry-outlook", "Current certificates expiring per week ahead", outlook),
            Table("validity-distribution", "Certificates under management by lifetime", bands),
            Table("open-alerts", "Open alerts by severity", severities, empty="No open alerts."),
            Table(
                f"expiring-{EXPIRING_DAYS}-days",
                f"Certificates expiring in the next {EXPIRING_DAYS} days without a renewal",
                soon,
                empty=f"No current certificate expires within {EXPIRING_DAYS} days.",
            ),
        ),
        notes=(
            f"{100 * share47:.0f} % of the certificates under management already fit the "
            "47-day limit of 2029.",
        ),
    )
    return [summary]
