"""What the live population's clients run, and how each kind asks for a status.

The same families as the simulator (simulator/software.py), reduced to the
ones whose requests differ on the wire: User-Agent, GET or POST, how a GET path is
escaped, SHA-1 or SHA-256 CertIDs, nonces, and whether the client also fetches CRLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Software:
    name: str
    user_agent: str | None  # None: the client sends no User-Agent header
    method: Literal["GET", "POST"]
    escaped: bool  # GET: base64 with ``/ + =`` percent-encoded (else raw, ``/`` in the path)
    sha256_share: float  # clients of this kind that send SHA-256 CertIDs (else SHA-1)
    nonce_share: float  # clients of this kind that put a nonce in every request
    fetches_crl: bool  # also downloads the issuing CA's CRL now and then
    rate: float  # relative requests per client (Java asks per connection, CryptoAPI caches)


CRYPTOAPI = Software("cryptoapi", "Microsoft-CryptoAPI/10.0", "GET", False, 0.0, 0.0, True, 0.6)
JAVA = Software("java", "Java/17.0.9", "GET", True, 0.0, 0.0, False, 2.0)
OPENSSL = Software("openssl", "OpenSSL/3.0.13", "POST", False, 0.3, 0.5, False, 1.5)
GO = Software("go", "Go-http-client/1.1", "POST", False, 0.0, 0.0, False, 1.5)
AGENT = Software("agent", "certsight-agent/2.4.1", "GET", True, 1.0, 0.0, False, 1.0)
DEVICE = Software("device", None, "POST", False, 0.0, 0.0, False, 1.0)

SOFTWARE: tuple[Software, ...] = (CRYPTOAPI, JAVA, OPENSSL, GO, AGENT, DEVICE)

# Which software runs in which zone (shares of the zone's clients).
ZONE_SOFTWARE: dict[str, dict[Software, float]] = {
    "workstations": {CRYPTOAPI: 0.65, AGENT: 0.25, JAVA: 0.10},
    "vpn": {CRYPTOAPI: 0.75, AGENT: 0.25},
    "datacenter": {JAVA: 0.35, OPENSSL: 0.25, GO: 0.25, AGENT: 0.15},
    "pci": {JAVA: 0.7, OPENSSL: 0.2, AGENT: 0.1},
    "ot": {OPENSSL: 0.4, DEVICE: 0.6},
    "dmz": {GO: 0.4, OPENSSL: 0.3, JAVA: 0.3},
    "external": {JAVA: 0.5, GO: 0.25, CRYPTOAPI: 0.25},
}
