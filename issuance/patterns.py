"""Name patterns: what a token, an ACME account or an IAM principal may obtain.

Four forms, all written the way an operator reads them:

- ``host.example.com``: that name only.
- ``*.example.com``: exactly one label below ``example.com`` (``a.example.com``, and the
  wildcard ``*.example.com`` itself, which covers the same names), never deeper and never
  ``example.com``.
- ``**.example.com``: any name below ``example.com``, at any depth.
- ``10.20.0.0/16`` (or one address): IP address SANs inside the network.

``[issuance] domains`` uses the same forms but reads a plain name as "this domain and
everything below it", since it lists the enterprise's zones rather than hosts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pki.names import NameError_, check_dns_name

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class PatternError(ValueError):
    """A pattern that cannot be read; the message quotes it and says why."""


@dataclass(frozen=True)
class Pattern:
    text: str
    kind: str  # "exact" | "one-label" | "subtree" | "network"
    suffix: str = ""
    network: IpNetwork | None = None

    def matches(self, name: str) -> bool:
        """Whether the normalised SAN ``name`` (from ``normalise_name``) is allowed."""
        if self.network is not None:
            address = _address(name)
            return (
                address is not None
                and address.version == self.network.version
                and address in self.network
            )
        if _address(name) is not None:
            return False
        if self.kind == "exact":
            return name == self.suffix
        if not name.endswith("." + self.suffix):
            return False
        head = name[: -len(self.suffix) - 1]
        if self.kind == "one-label":
            return "." not in head
        return True  # subtree

    def covers_domain(self, name: str) -> bool:
        """``domains`` semantics: a plain name covers itself and every name below it."""
        if self.kind == "exact":
            return name == self.suffix or name.endswith("." + self.suffix)
        return self.matches(name)


def parse_pattern(text: str) -> Pattern:
    value = text.strip()
    if not value:
        raise PatternError("an empty name pattern matches nothing; remove it")
    if "/" in value or _address(value) is not None:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise PatternError(f"pattern {text!r} is not an IP network: {exc}") from None
        return Pattern(text=value, kind="network", network=network)
    kind, rest = "exact", value
    if value.startswith("**."):
        kind, rest = "subtree", value[3:]
    elif value.startswith("*."):
        kind, rest = "one-label", value[2:]
    if "*" in rest:
        raise PatternError(f"pattern {text!r}: '*' and '**' may only be the whole first label")
    try:
        suffix = check_dns_name(rest)
    except NameError_:
        raise PatternError(f"pattern {text!r} is not a DNS name pattern") from None
    if kind != "exact" and "." not in suffix:
        raise PatternError(
            f"pattern {text!r} would match names under a top-level domain; name the zone"
        )
    return Pattern(text=value, kind=kind, suffix=suffix)


def normalise_name(text: str) -> str:
    """The form names are compared and certified in: lowercase A-labels without a final
    dot, IP addresses in their canonical text. Raises ``NameError_``."""
    address = _address(text.strip())
    if address is not None:
        return str(address)
    return check_dns_name(text)


_IPV4_CHARS = frozenset("0123456789.")


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Only text that could be an address is parsed: on every name of every request.
    if ":" not in text and not _IPV4_CHARS.issuperset(text):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
