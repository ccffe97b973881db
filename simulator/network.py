"""The enterprise's address plan: zones as CIDRs, nested so that the longest prefix wins.

A PCI segment inside a data-centre /16, plants and VPN pools inside the corporate /8:
an enrichment that takes the first matching CIDR instead of the longest gets zones
wrong, and the simulation is meant to show it. Every simulated address lies in a
listed CIDR except the few external partners (documentation ranges, RFC 5737).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Network:
    cidr: str
    zone: str
    site: str
    owner: str

    @property
    def parsed(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.cidr)


NETWORKS: tuple[Network, ...] = (
    Network("10.0.0.0/8", "corporate", "all-sites", "network-team"),
    Network("10.4.0.0/14", "vpn", "remote", "remote-access"),
    Network("10.20.0.0/15", "datacenter", "paris-dc1", "platform"),
    Network("10.20.5.0/24", "pci", "paris-dc1", "payments"),
    Network("10.24.0.0/15", "datacenter", "frankfurt-dc2", "platform"),
    Network("10.24.128.0/17", "pci", "frankfurt-dc2", "payments"),
    Network("10.30.0.0/16", "ot", "lille-plant", "ot-engineering"),
    Network("10.30.200.0/24", "datacenter", "lille-plant", "platform"),
    Network("10.32.0.0/14", "workstations", "paris", "workplace-it"),
    Network("10.36.0.0/15", "workstations", "lyon", "workplace-it"),
    Network("10.38.0.0/15", "workstations", "london", "workplace-it"),
    Network("172.20.10.0/24", "dmz", "paris-dc1", "edge"),
    Network("172.20.128.0/17", "dmz", "frankfurt-dc2", "edge"),
)
# Partners on the internet: in no listed CIDR on purpose.
EXTERNAL = (
    Network("198.51.100.0/24", "external", "internet", "partners"),
    Network("203.0.113.0/24", "external", "internet", "partners"),
    Network("192.0.2.0/24", "external", "internet", "partners"),
)
# Where each site's traffic enters CloudFront.
EDGE_OF_SITE = {
    "all-sites": "CDG50-C1",
    "remote": "CDG52-P1",
    "paris": "CDG50-C1",
    "lyon": "MRS52-P2",
    "london": "LHR61-C2",
    "paris-dc1": "CDG50-C1",
    "frankfurt-dc2": "FRA56-P1",
    "lille-plant": "CDG52-P1",
    "internet": "AMS54-C1",
}
EDGES = tuple(sorted(set(EDGE_OF_SITE.values())))


def networks_csv() -> str:
    """HOME/networks.csv: what ``certsight build --networks`` reads."""
    lines = ["cidr,zone,site,owner"]
    lines += [f"{n.cidr},{n.zone},{n.site},{n.owner}" for n in NETWORKS]
    return "\n".join(lines) + "\n"


def pools(zone: str) -> list[Network]:
    """The networks whose own addresses (outside any nested network) belong to ``zone``."""
    source = EXTERNAL if zone == "external" else NETWORKS
    return [n for n in source if n.zone == zone]


def _nested_in(network: Network) -> list[ipaddress.IPv4Network]:
    outer = network.parsed
    return [
        other.parsed
        for other in NETWORKS
        if other.parsed != outer and other.parsed.subnet_of(outer)
    ]


def capacity(network: Network) -> int:
    """Usable host addresses of the network itself (nested networks and .0/.255 excluded)."""
    size = network.parsed.num_addresses - sum(n.num_addresses for n in _nested_in(network))
    return size * 254 // 256


def allocate_zone(
    rng: np.random.Generator, zone: str, count: int, taken: set[int]
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` distinct addresses of ``zone``, spread over its networks by their size;
    returns the addresses and the index of each one's network in ``pools(zone)``."""
    found = pools(zone)
    sizes = np.array([capacity(n) for n in found], np.float64)
    shares = rng.multinomial(count, sizes / sizes.sum()) if count else np.zeros(len(found), int)
    addresses, which = [], []
    for index, (network, share) in enumerate(zip(found, shares.tolist(), strict=True)):
        addresses.append(allocate(rng, network, share, taken))
        which.append(np.full(share, index, np.int32))
    return np.concatenate(addresses), np.concatenate(which)


def allocate(rng: np.random.Generator, network: Network, count: int, taken: set[int]) -> np.ndarray:
    """``count`` distinct host addresses of ``network`` itself (not of a network nested
    in it), none of them in ``taken``, which grows by them."""
    if count > capacity(network) // 2:
        raise ValueError(f"{network.cidr} is too small for {count} more addresses")
    outer = network.parsed
    base, size = int(outer.network_address), outer.num_addresses
    holes = [(int(n.network_address), n.num_addresses) for n in _nested_in(network)]
    chosen: list[int] = []
    while len(chosen) < count:
        candidates = base + rng.integers(1, size - 1, size=max(64, 2 * (count - len(chosen))))
        keep = (candidates % 256 != 0) & (candidates % 256 != 255)
        for start, length in holes:
            keep &= (candidates < start) | (candidates >= start + length)
        for value in candidates[keep].tolist():
            if value not in taken:
                taken.add(value)
                chosen.append(value)
                if len(chosen) == count:
                    break
    return np.array(chosen, np.uint32)


def dotted(addresses: np.ndarray) -> list[str]:
    values = addresses.astype(np.uint32)
    parts = [(values >> shift) & 255 for shift in (24, 16, 8, 0)]
    return [f"{a}.{b}.{c}.{d}" for a, b, c, d in zip(*(p.tolist() for p in parts), strict=True)]


def locate(address: str) -> Network | None:
    """The longest listed prefix holding ``address``: the rule the warehouse must apply."""
    parsed = ipaddress.IPv4Address(address)
    found = [n for n in NETWORKS if parsed in n.parsed]
    return max(found, key=lambda n: n.parsed.prefixlen) if found else None
