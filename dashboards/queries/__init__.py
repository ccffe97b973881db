"""Every question the dashboards and reports ask of the warehouse, as parameterised SQL.

One package on purpose: the pages and the reports show the same numbers because they run
the same statements, and a reviewer can check in one place that no text a user typed is
ever spliced into SQL (every value travels as a ``$name`` parameter; statements are
assembled from the constant fragments of ``common`` only).

The functions are pure over a read-only DuckDB connection and return pandas frames;
caching belongs to the Streamlit side (``dashboards.ui``, which finds a query here by its
name: every query is re-exported below). Filters follow one rule: the zone filter selects
*clients* for traffic, and *servers* for certificates.

By subject: ``overview`` (the data's window, the filters' choices), ``certificates``,
``validation`` and ``adoption`` (PKI team), ``alerts``, ``reliance`` and ``exposure``
(cyber defence), ``management`` and ``keys`` (KPIs, trends, key exposure),
``footprint`` (the CA footprint by client type).
"""

from __future__ import annotations

from dashboards.queries.adoption import agent_adoption, downloads_by_zone, version_order
from dashboards.queries.alerts import (
    alert_counts,
    alert_detail,
    alert_evidence,
    alert_queue,
    client_alerts,
    detectors,
    server_alerts,
)
from dashboards.queries.certificates import (
    certificates_managed,
    expiries_ahead,
    expiry_outlook,
    find_certificates,
    issuance_daily,
    renewal_timing,
)
from dashboards.queries.common import (
    AUTOMATED_PREFIXES,
    SEVERITIES,
    VALIDITY_LIMITS,
    Filters,
    bind,
    frame,
    row,
)
from dashboards.queries.exposure import (
    new_edges_daily,
    risky_clients,
    risky_validations,
    zone_matrix,
)
from dashboards.queries.footprint import ca_footprint, footprint_clients
from dashboards.queries.keys import deployment_lag, key_exposure
from dashboards.queries.management import kpis, validity_distribution, weekly_trends
from dashboards.queries.overview import ca_options, data_window, zone_options
from dashboards.queries.reliance import (
    client_profile,
    client_reliance,
    find_clients,
    find_servers,
    ranked_clients,
    ranked_servers,
    server_profile,
    server_reliance,
)
from dashboards.queries.validation import crl_fetches, mean_latency, validation_load

__all__ = [
    "AUTOMATED_PREFIXES",
    "SEVERITIES",
    "VALIDITY_LIMITS",
    "Filters",
    "agent_adoption",
    "alert_counts",
    "alert_detail",
    "alert_evidence",
    "alert_queue",
    "bind",
    "ca_footprint",
    "ca_options",
    "certificates_managed",
    "client_alerts",
    "client_profile",
    "client_reliance",
    "crl_fetches",
    "data_window",
    "deployment_lag",
    "detectors",
    "downloads_by_zone",
    "expiries_ahead",
    "expiry_outlook",
    "find_certificates",
    "find_clients",
    "find_servers",
    "footprint_clients",
    "frame",
    "issuance_daily",
    "key_exposure",
    "kpis",
    "mean_latency",
    "new_edges_daily",
    "ranked_clients",
    "ranked_servers",
    "renewal_timing",
    "risky_clients",
    "risky_validations",
    "row",
    "server_alerts",
    "server_profile",
    "server_reliance",
    "validation_load",
    "validity_distribution",
    "version_order",
    "weekly_trends",
    "zone_matrix",
    "zone_options",
]
