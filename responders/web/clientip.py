"""Who asked: the connection's peer, or the viewer's address as a CDN reports it.

``CloudFront-Viewer-Address`` is just a request header: anyone who reaches the
origin directly can write any address into it, and the LAKE would then record a
scanner as an internal host. So it is believed only when the deployment says the
origin sits behind the CDN (``ViewerTrust.header``, off by default), and, where an
origin secret is configured, only on requests that carry that secret: the custom
origin header CloudFront adds and nobody else knows (issue infra builds that side).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

VIEWER_HEADER = "cloudfront-viewer-address"
ORIGIN_SECRET_HEADER = "x-certsight-origin-secret"  # noqa: S105 - a header name


@dataclass(frozen=True)
class ViewerTrust:
    """Whether to believe ``CloudFront-Viewer-Address``.

    ``secrets``: the values of ``X-Certsight-Origin-Secret`` that prove a request came
    through the CDN (more than one while a secret is rotated). Empty: no secret check,
    which only a local server behind a trusted proxy (``certsight run``'s simulated CDN)
    should use.
    """

    header: bool = False
    secrets: tuple[str, ...] = ()

    def from_cdn(self, headers: Mapping[str, str]) -> bool:
        """The request carries one of the origin secrets (compared in constant time)."""
        given = headers.get(ORIGIN_SECRET_HEADER, "").encode()
        found = False
        for secret in self.secrets:
            found |= hmac.compare_digest(given, secret.encode())
        return found


NO_TRUST = ViewerTrust()


def client_address(headers: Mapping[str, str], peer: str, trust: ViewerTrust = NO_TRUST) -> str:
    """The viewer's address (``ip:port``, IPv6 unbracketed) when trusted and well formed,
    else the connection's peer."""
    if not trust.header or (trust.secrets and not trust.from_cdn(headers)):
        return peer
    viewer = headers.get(VIEWER_HEADER)
    if viewer:
        host = viewer.rsplit(":", 1)[0].strip("[]") if ":" in viewer else viewer
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
    return peer


def parse_secrets(value: str | None) -> tuple[str, ...]:
    """``CERTSIGHT_ORIGIN_SECRET``: one secret, or several separated by commas while one
    is rotated; blanks ignored."""
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())
