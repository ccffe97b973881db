"""The pages, by audience: the one list the router, the links and the tests share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    audience: str  # pki, cyber, management ("all" for the start page)
    path: str  # relative to the dashboards folder
    title: str  # names its audience
    url_path: str
    icon: str


PAGES = (
    PageSpec(
        "management",
        "management/summary.py",
        "Management · Summary",
        "management",
        ":material/summarize:",
    ),
    PageSpec(
        "pki",
        "pki/certificates.py",
        "PKI · Certificates and renewals",
        "pki",
        ":material/verified:",
    ),
    PageSpec(
        "pki",
        "pki/validation.py",
        "PKI · Validation load",
        "pki-validation",
        ":material/network_check:",
    ),
    PageSpec(
        "pki",
        "pki/adoption.py",
        "PKI · Trust stores and agents",
        "pki-adoption",
        ":material/inventory_2:",
    ),
    PageSpec(
        "pki",
        "pki/footprint.py",
        "PKI · CA footprint by client type",
        "pki-footprint",
        ":material/hub:",
    ),
    PageSpec(
        "cyber",
        "cyber/alerts.py",
        "Cyber defence · Alert queue",
        "cyber",
        ":material/notification_important:",
    ),
    PageSpec(
        "cyber",
        "cyber/server.py",
        "Cyber defence · What relies on a server",
        "server",
        ":material/dns:",
    ),
    PageSpec(
        "cyber",
        "cyber/client.py",
        "Cyber defence · Where a client connects",
        "client",
        ":material/computer:",
    ),
    PageSpec(
        "cyber",
        "cyber/exposure.py",
        "Cyber defence · Risky validations and zones",
        "exposure",
        ":material/travel_explore:",
    ),
)
# The landing page: Streamlit serves the default page at "/" only, so it is not one of
# the audiences' pages, whose URLs must all work (links, bookmarks, `make run`'s hints).
START = PageSpec("all", "start.py", "certsight · Start", "start", ":material/home:")
SERVER_PAGE = "cyber/server.py"
CLIENT_PAGE = "cyber/client.py"
ALERTS_PAGE = "cyber/alerts.py"
CERTIFICATES_PAGE = "pki/certificates.py"


def page(path: str) -> PageSpec:
    return next(spec for spec in PAGES if spec.path == path)
