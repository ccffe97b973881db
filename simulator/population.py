"""Who is in the enterprise: servers (with their zone, CA and certificate profile) and
clients (with their zone, software, rhythm and way to the responder).

Staplers are clients too: a server asking for its own certificate's status, from
its own address, which does nothing else. Clients joining the enterprise do so
during the learning period only, so that after it every client is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.network import EDGE_OF_SITE, EDGES, allocate_zone, dotted, pools
from simulator.rhythm import Rhythm, times_in_day
from simulator.software import FAMILIES, FAMILY, ZONE_SOFTWARE, Method

ZONES = ("workstations", "vpn", "datacenter", "pci", "ot", "dmz", "corporate", "external")
ZONE = {name: index for index, name in enumerate(ZONES)}
CLIENT_ZONE_SHARE = {
    "workstations": 0.55,
    "vpn": 0.15,
    "datacenter": 0.15,
    "pci": 0.03,
    "ot": 0.05,
    "dmz": 0.02,
    "corporate": 0.03,
    "external": 0.02,
}
MAX_EXTERNAL_CLIENTS = 300
SERVER_ZONE_SHARE = {"datacenter": 0.55, "dmz": 0.15, "pci": 0.12, "ot": 0.18}
# fmt: off
ROLES = {
    "datacenter": ("app", "api", "db", "ldap", "sso", "git", "wiki", "mq", "ci", "vault",
                   "files", "mail", "intranet", "search", "k8s"),
    "dmz": ("www", "portal", "extranet", "apigw", "mx"),
    "pci": ("pay", "card", "tokenizer"),
    "ot": ("scada", "hmi", "historian", "plcgw"),
}
# fmt: on
DOMAIN = "corp.example"
# Certificate lifetimes (days) per server zone, with their shares.
VALIDITY = {
    "datacenter": ((30, 0.25), (47, 0.35), (90, 0.3), (200, 0.1)),
    "dmz": ((47, 0.5), (90, 0.5)),
    "pci": ((90, 0.7), (200, 0.3)),
    "ot": ((90, 0.3), (200, 0.7)),
}
STAPLING = {"datacenter": 0.15, "dmz": 0.5, "pci": 0.1, "ot": 0.0}
IP_SAN = 0.15  # servers reached by address too (staplers always are)
SECOND_CA = {"datacenter": 0.25, "dmz": 0.25, "pci": 0.8, "ot": 0.8}  # issued by CA 2
JOINING = 0.04  # clients that join during the learning period


@dataclass
class Servers:
    host: list[str]
    zone: np.ndarray  # int8, ZONES
    address: np.ndarray  # uint32
    ip: list[str]
    ip_san: np.ndarray  # bool
    stapler: np.ndarray  # bool
    ca: np.ndarray  # int8: index of the issuing CA
    validity_days: np.ndarray  # int32
    popularity: np.ndarray  # float64, relative

    def __len__(self) -> int:
        return len(self.host)


@dataclass
class Clients:
    address: np.ndarray  # uint32
    ip: list[str]
    zone: np.ndarray  # int8, ZONES
    edge: np.ndarray  # int8, EDGES
    family: np.ndarray  # int8, FAMILIES
    agent: np.ndarray  # int16: index into the family's user agents
    rhythm: np.ndarray  # int8, Rhythm
    via_cdn: np.ndarray  # bool: through CloudFront (else straight to the responder)
    method: np.ndarray  # int8, Method
    sha256: np.ndarray  # bool: SHA-256 CertIDs
    start_day: np.ndarray  # int32: first day the client is active
    stapler_of: np.ndarray  # int32: the server it staples for, -1 for ordinary clients
    phase_s: np.ndarray  # int32: stapling second within the hour, CRL second within the day
    crl_fetcher: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.address)

    @property
    def ordinary(self) -> np.ndarray:
        return self.stapler_of < 0


def _pick(rng: np.random.Generator, shares: dict[str, float], count: int) -> list[str]:
    names = list(shares)
    weights = np.array([shares[n] for n in names], np.float64)
    return [names[i] for i in rng.choice(len(names), size=count, p=weights / weights.sum())]


def make_servers(rng: np.random.Generator, count: int, taken: set[int]) -> Servers:
    zones = np.array([ZONE[z] for z in _pick(rng, SERVER_ZONE_SHARE, count)], np.int8)
    zones[: len(SERVER_ZONE_SHARE)] = [ZONE[z] for z in SERVER_ZONE_SHARE]  # every zone has one
    address = np.zeros(count, np.uint32)
    host = [""] * count
    validity = np.zeros(count, np.int32)
    second_ca = np.zeros(count, bool)
    stapler = np.zeros(count, bool)
    used: dict[str, int] = {}
    for zone, zone_index in ((z, ZONE[z]) for z in SERVER_ZONE_SHARE):
        members = np.flatnonzero(zones == zone_index)
        if not len(members):
            continue
        address[members] = allocate_zone(rng, zone, len(members), taken)[0]
        roles = ROLES[zone]
        width = max(3, len(str(len(members))))
        for index, role in zip(
            members.tolist(), rng.integers(0, len(roles), len(members)).tolist(), strict=True
        ):
            name = roles[role]
            used[name] = used.get(name, 0) + 1
            host[index] = f"{name}{used[name]:0{width}d}.{DOMAIN}"
        days, shares = zip(*VALIDITY[zone], strict=True)
        validity[members] = rng.choice(np.array(days), size=len(members), p=np.array(shares))
        second_ca[members] = rng.random(len(members)) < SECOND_CA[zone]
        stapler[members] = rng.random(len(members)) < STAPLING[zone]
    ip_san = stapler | (rng.random(count) < IP_SAN)
    # A few servers everybody uses (SSO, directory), a long tail nobody but their team does.
    popularity = 1.0 / (rng.permutation(count) + 1.0) ** 1.05
    return Servers(
        host=host,
        zone=zones,
        address=address,
        ip=dotted(address),
        ip_san=ip_san,
        stapler=stapler,
        ca=second_ca.astype(np.int8),
        validity_days=validity,
        popularity=popularity,
    )


def make_clients(
    rng: np.random.Generator,
    count: int,
    servers: Servers,
    taken: set[int],
    learning_days: int,
) -> Clients:
    """Ordinary clients first (indices 0..count-1), then one stapler per stapling server."""
    shares = dict(CLIENT_ZONE_SHARE)
    zone_names = _pick(rng, shares, count)
    external = [i for i, z in enumerate(zone_names) if z == "external"]
    for index in external[MAX_EXTERNAL_CLIENTS:]:
        zone_names[index] = "workstations"
    zones = np.array([ZONE[z] for z in zone_names], np.int8)
    address = np.zeros(count, np.uint32)
    edge = np.zeros(count, np.int8)
    family = np.zeros(count, np.int8)
    for zone in ZONES:
        members = np.flatnonzero(zones == ZONE[zone])
        if not len(members):
            continue
        found, which = allocate_zone(rng, zone, len(members), taken)
        address[members] = found
        site_edges = np.array([EDGES.index(EDGE_OF_SITE[n.site]) for n in pools(zone)])
        edge[members] = site_edges[which]
        software = ZONE_SOFTWARE[zone]
        family[members] = [FAMILY[f] for f in _pick(rng, software, len(members))]
    agent_count = np.array([len(f.agents) for f in FAMILIES])[family]
    agent = (rng.random(count) * agent_count).astype(np.int16)
    people = np.isin(zones, [ZONE["workstations"], ZONE["vpn"]])
    rhythm = np.where(people, Rhythm.BUSINESS, Rhythm.MACHINE).astype(np.int8)
    direct_share = np.where(
        np.isin(zones, [ZONE["datacenter"], ZONE["pci"], ZONE["ot"]]), 0.6, 0.05
    )
    via_cdn = rng.random(count) >= direct_share
    method = np.array([f.method for f in FAMILIES], np.int8)[family]
    sha256 = rng.random(count) < np.array([f.sha256_share for f in FAMILIES])[family]
    crl_fetcher = rng.random(count) < np.array([f.crl_share for f in FAMILIES])[family]
    start_day = np.zeros(count, np.int32)
    if learning_days >= 2:
        joining = rng.random(count) < JOINING
        start_day[joining] = rng.integers(1, learning_days, int(joining.sum()))
    # A client's daily moment (CRL downloads), in its rhythm's busy hours.
    phase = (times_in_day(rng, rhythm, np.zeros(count, np.int64)) // 1_000_000).astype(np.int32)
    ordinary = Clients(
        address=address,
        ip=dotted(address),
        zone=zones,
        edge=edge,
        family=family,
        agent=agent,
        rhythm=rhythm,
        via_cdn=via_cdn,
        method=method,
        sha256=sha256,
        start_day=start_day,
        stapler_of=np.full(count, -1, np.int32),
        phase_s=phase,
        crl_fetcher=crl_fetcher,
    )
    return _with_staplers(rng, ordinary, servers)


def _with_staplers(rng: np.random.Generator, clients: Clients, servers: Servers) -> Clients:
    stapling = np.flatnonzero(servers.stapler).astype(np.int32)
    n = len(stapling)
    zone_edges = {ZONE[z]: EDGES.index(EDGE_OF_SITE[pools(z)[0].site]) for z in SERVER_ZONE_SHARE}
    edges = np.array([zone_edges[z] for z in servers.zone[stapling].tolist()], np.int8)
    return Clients(
        address=np.concatenate([clients.address, servers.address[stapling]]),
        ip=clients.ip + [servers.ip[s] for s in stapling.tolist()],
        zone=np.concatenate([clients.zone, servers.zone[stapling]]),
        edge=np.concatenate([clients.edge, edges]),
        family=np.concatenate([clients.family, np.full(n, FAMILY["stapler"], np.int8)]),
        agent=np.concatenate([clients.agent, np.zeros(n, np.int16)]),
        rhythm=np.concatenate([clients.rhythm, np.full(n, Rhythm.MACHINE, np.int8)]),
        via_cdn=np.concatenate([clients.via_cdn, rng.random(n) < 0.5]),
        # nginx staples with GET, Apache with POST.
        method=np.concatenate(
            [clients.method, np.where(rng.random(n) < 0.6, Method.GET, Method.POST).astype(np.int8)]
        ),
        sha256=np.concatenate([clients.sha256, np.zeros(n, bool)]),
        start_day=np.concatenate([clients.start_day, np.zeros(n, np.int32)]),
        stapler_of=np.concatenate([clients.stapler_of, stapling]),
        # Every 60 minutes at a fixed minute, away from the hour's edges.
        phase_s=np.concatenate([clients.phase_s, rng.integers(420, 3_180, n).astype(np.int32)]),
        crl_fetcher=np.concatenate([clients.crl_fetcher, np.zeros(n, bool)]),
    )
