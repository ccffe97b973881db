"""Addresses as sortable keys, so one range comparison places IPv4 and IPv6 clients in
their networks, in SQL as in Python."""

from __future__ import annotations

import ipaddress

_V4_MAPPED = 0xFFFF << 32


def ip_key(text: str | None) -> str | None:
    """An address as 32 hex digits (IPv4 mapped into IPv6), so that one string range
    comparison places IPv4 and IPv6 clients in their networks; None for anything that is
    not an address (a CDN log's '-', a hostname)."""
    if not text:
        return None
    candidate = text.strip().removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        return None
    value = int(address) + _V4_MAPPED if address.version == 4 else int(address)
    return f"{value:032x}"


def network_range(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[str, str]:
    """First and last address of a network in :func:`ip_key` form."""
    offset = _V4_MAPPED if network.version == 4 else 0
    first = int(network.network_address) + offset
    last = int(network.broadcast_address) + offset
    return f"{first:032x}", f"{last:032x}"
