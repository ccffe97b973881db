"""Who asked: the viewer's address, as CloudFront reports it to the origin."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping


def client_address(headers: Mapping[str, str], peer: str) -> str:
    """``CloudFront-Viewer-Address`` (``ip:port``, IPv6 unbracketed) when present and
    well formed, else the connection's peer. Only trustworthy when the origin is
    reachable through the CDN alone; the infrastructure enforces that."""
    viewer = headers.get("cloudfront-viewer-address")
    if viewer:
        host = viewer.rsplit(":", 1)[0].strip("[]") if ":" in viewer else viewer
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
    return peer
