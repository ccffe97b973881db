"""Client software: what each kind of client sends and how.

The families differ where the LAKE can see it: User-Agent, GET or POST, how a GET
path is escaped (Java, NSS and the agent percent-encode ``/ + =``; CryptoAPI and
Chrome send raw base64), SHA-1 or SHA-256 CertIDs, nonces, and whether the client
downloads CRLs. Rates reflect caching: CryptoAPI and browsers keep answers until
nextUpdate, Java and scripts ask again for every connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Method(IntEnum):
    GET = 0
    POST = 1


class Style(IntEnum):
    """How a GET path carries the base64 request."""

    RAW = 0  # /ocsp/MFQw.../...+..=
    ESCAPED = 1  # /ocsp/MFQw...%2F...%2B..%3D


@dataclass(frozen=True)
class Family:
    name: str
    agents: tuple[str | None, ...]  # User-Agent strings a client of the family may send
    method: Method
    style: Style
    sha256_share: float  # clients of the family that send SHA-256 CertIDs
    nonce_share: float  # POSTs that carry a nonce
    crl_share: float  # clients that also download CRLs
    rate: float  # relative OCSP requests per habit


AGENT_PREFIX = "certsight-agent/"
FAMILIES: tuple[Family, ...] = (
    Family("cryptoapi", ("Microsoft-CryptoAPI/10.0",), Method.GET, Style.RAW, 0.0, 0.0, 1.0, 0.6),
    Family(
        "java",
        ("Java/17.0.9", "Java/11.0.21", "Java/21.0.2"),
        Method.GET,
        Style.ESCAPED,
        0.0,
        0.0,
        0.3,
        2.0,
    ),
    Family("openssl", ("OpenSSL/3.0.13",), Method.POST, Style.RAW, 0.2, 0.5, 0.3, 1.5),
    Family("go", ("Go-http-client/1.1",), Method.POST, Style.RAW, 0.0, 0.0, 0.0, 1.5),
    Family(
        "firefox",
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",),
        Method.GET,
        Style.ESCAPED,
        0.0,
        0.0,
        0.0,
        0.8,
    ),
    Family(
        "chrome",
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        ),
        Method.GET,
        Style.RAW,
        0.0,
        0.0,
        0.0,
        0.8,
    ),
    # The agent's User-Agent carries its version, which changes as clients upgrade.
    Family("agent", (None,), Method.GET, Style.ESCAPED, 1.0, 0.0, 0.0, 1.0),
    Family("none", (None,), Method.POST, Style.RAW, 0.0, 0.0, 0.0, 1.0),
    # A server fetching its own status for OCSP stapling (nginx GETs, Apache POSTs).
    Family("stapler", (None,), Method.GET, Style.RAW, 0.0, 0.0, 0.0, 0.0),
)
FAMILY = {f.name: index for index, f in enumerate(FAMILIES)}

# Which software runs in which zone (shares of the zone's clients).
ZONE_SOFTWARE: dict[str, dict[str, float]] = {
    "workstations": {"cryptoapi": 0.55, "firefox": 0.1, "chrome": 0.1, "agent": 0.2, "java": 0.05},
    "vpn": {"cryptoapi": 0.6, "firefox": 0.15, "chrome": 0.1, "agent": 0.15},
    "datacenter": {"java": 0.35, "openssl": 0.2, "go": 0.25, "agent": 0.15, "none": 0.05},
    "pci": {"java": 0.7, "openssl": 0.2, "agent": 0.1},
    "ot": {"openssl": 0.4, "none": 0.4, "java": 0.2},
    "dmz": {"go": 0.4, "openssl": 0.3, "java": 0.3},
    "corporate": {"none": 0.5, "openssl": 0.5},
    "external": {"java": 0.4, "go": 0.3, "cryptoapi": 0.3},
}
