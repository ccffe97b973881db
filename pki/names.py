"""Subject alternative names as operators type them: DNS names and IP addresses."""

from __future__ import annotations

import ipaddress
import re

from cryptography import x509

_DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class NameError_(ValueError):
    """A name that cannot go into a certificate."""


def parse_san(text: str) -> x509.GeneralName:
    """An IP literal becomes an iPAddress SAN, anything else must be a valid DNS name."""
    value = text.strip()
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        pass
    return x509.DNSName(check_dns_name(value))


def check_dns_name(value: str) -> str:
    """Return the lowercase A-label form; a leading ``*.`` wildcard label is allowed."""
    name = value.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError as exc:
        raise NameError_(f"not a valid DNS name: {value!r}") from exc
    labels = name.split(".")
    if labels and labels[0] == "*" and len(labels) > 2:
        labels = labels[1:]
    if not name or len(name) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise NameError_(f"not a valid DNS name or IP address: {value!r}")
    return name


def san_text(name: x509.GeneralName) -> str:
    """How a SAN is stored in the inventory: the bare value (``dns:host`` reads badly)."""
    return str(name.value)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only: ``localhost``, a loopback address (IPv6 with
    or without brackets), or 127.x mapped into IPv6 (how a dual-stack socket reports an
    IPv4 peer). Anything unparsable, such as a Unix socket's empty peer, is not."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
