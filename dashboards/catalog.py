"""The pages, by audience: the one list the router, the links and the tests share."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    audience: str  # pki, cyber, management
    path: str  # relative to the dashboards folder
    title: str  # names its audience
    url_path: str
    icon: str


PAGES = (
    PageSpec("management", "management/summary.py", "Management · Summary", "management", "📊"),
    PageSpec("pki", "pki/certificates.py", "PKI · Certificates and renewals", "pki", "🔏"),
    PageSpec("pki", "pki/validation.py", "PKI · Validation load", "pki-validation", "📡"),
    PageSpec("pki", "pki/adoption.py", "PKI · Trust stores and agents", "pki-adoption", "📦"),
    PageSpec("cyber", "cyber/alerts.py", "Cyber defence · Alert queue", "cyber", "🚨"),
    PageSpec("cyber", "cyber/server.py", "Cyber defence · What relies on a server", "server", "🖥"),
    PageSpec("cyber", "cyber/client.py", "Cyber defence · Where a client connects", "client", "💻"),
    PageSpec(
        "cyber",
        "cyber/exposure.py",
        "Cyber defence · Risky validations and zones",
        "exposure",
        "🧭",
    ),
)
SERVER_PAGE = "cyber/server.py"
CLIENT_PAGE = "cyber/client.py"
ALERTS_PAGE = "cyber/alerts.py"
CERTIFICATES_PAGE = "pki/certificates.py"


def page(path: str) -> PageSpec:
    return next(spec for spec in PAGES if spec.path == path)
