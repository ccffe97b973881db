"""The live enterprise: servers with certificates from the home's CA, and the clients that
validate them, with stable addresses, software and habits.

The servers are real: issued by HOME/pki's issuing CA into the store (so the responder
answers for them) with their PEMs under ``HOME/certs/live``, each with a DNS and an IP
SAN in its zone, varied lifetimes and (mostly automated) requesters. One of them is
revoked (keyCompromise) and its clients keep validating it. The clients live only in
memory: a fixed population derived from a seed, addressed in the zones of the
simulator's ``networks.csv`` (simulator/network.py), so the warehouse puts
them in the right zones.

``prepare_live_enterprise`` is idempotent: PEMs that exist are loaded, nothing is
issued twice. A certificate past two thirds of its life (or not from this CA) is
renewed: its files move to ``HOME/certs/live/archive`` and a new one is issued.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from rich.console import Console

from certsight.settings import Home
from issuance.operations import file_stem, issue_to_files, revoke_serial
from pki.identity import key_sha1
from pki.pem import load_pem_certificate
from pki.reasons import RevocationReason
from pki.serials import serial_hex
from pki.store.base import CertStatus
from pki.store.factory import open_store
from simulator.live.software import ZONE_SOFTWARE, Software

LIVE_DIR = "live"
MAX_HABITS = 5


@dataclass(frozen=True)
class ServerSpec:
    host: str
    zone: str
    ip: str
    days: int
    requester: str


def _spec(name: str, zone: str, ip: str, days: int, requester: str) -> ServerSpec:
    return ServerSpec(f"{name}.live.corp.example", zone, ip, days, requester)


# Addresses in the zones of networks.csv; the datacenter's 10.24 servers stay out of the
# PCI 10.24.128.0/17, OT servers out of the datacenter 10.30.200.0/24. Four of the 24
# are issued by people, the rest by automation (acme:, cert-manager:, service:, api:,
# agent: requesters, which the warehouse counts as automated).
SERVERS: tuple[ServerSpec, ...] = (
    _spec("intranet", "datacenter", "10.20.1.10", 90, "acme:certbot"),
    _spec("wiki", "datacenter", "10.20.1.11", 47, "acme:certbot"),
    _spec("git", "datacenter", "10.20.2.20", 90, "cert-manager:platform"),
    _spec("ci", "datacenter", "10.20.2.21", 30, "cert-manager:platform"),
    _spec("artifacts", "datacenter", "10.20.2.22", 47, "cert-manager:platform"),
    _spec("erp", "datacenter", "10.21.4.50", 200, "api:itsm"),
    _spec("hr", "datacenter", "10.21.4.51", 90, "api:itsm"),
    _spec("sso", "datacenter", "10.24.0.15", 90, "service:iam-pki"),
    _spec("ldap", "datacenter", "10.24.0.16", 200, "alice"),
    _spec("mail", "datacenter", "10.24.1.25", 200, "bob"),
    _spec("monitoring", "datacenter", "10.24.3.40", 30, "agent:certsight-agent"),
    _spec("backup", "datacenter", "10.24.3.41", 90, "agent:certsight-agent"),
    _spec("payments", "pci", "10.20.5.10", 47, "service:payments-pki"),
    _spec("cards", "pci", "10.20.5.11", 47, "service:payments-pki"),
    _spec("tokenizer", "pci", "10.20.5.12", 30, "service:payments-pki"),
    _spec("pos-gw", "pci", "10.20.5.13", 90, "carol"),
    _spec("www", "dmz", "172.20.10.10", 90, "acme:certbot"),
    _spec("api", "dmz", "172.20.10.11", 47, "acme:certbot"),
    _spec("vpn-portal", "dmz", "172.20.10.12", 200, "dave"),
    _spec("partners", "dmz", "172.20.10.13", 200, "acme:certbot"),
    _spec("scada-gw", "ot", "10.30.1.10", 200, "service:ot-pki-bridge"),
    _spec("historian", "ot", "10.30.1.11", 90, "service:ot-pki-bridge"),
    _spec("plc-mgmt", "ot", "10.30.2.12", 200, "service:ot-pki-bridge"),
    _spec("mes", "ot", "10.30.3.13", 90, "api:mes"),
)
REVOKED_HOST = "partners.live.corp.example"  # keyCompromise; partners keep validating it

# Where clients live: (cidr, nested cidrs of another zone to avoid) per zone.
CLIENT_POOLS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "workstations": (("10.32.0.0/14", ()), ("10.36.0.0/15", ())),
    "vpn": (("10.4.0.0/14", ()),),
    "datacenter": (("10.20.0.0/15", ("10.20.5.0/24",)), ("10.24.0.0/17", ())),
    "pci": (("10.20.5.0/24", ()),),
    "ot": (("10.30.0.0/16", ("10.30.200.0/24",)),),
    "dmz": (("172.20.10.0/24", ()),),
    "external": (("198.51.100.0/24", ()), ("203.0.113.0/24", ())),  # partners (RFC 5737)
}
CLIENTS_PER_ZONE: dict[str, int] = {
    "workstations": 55,
    "vpn": 25,
    "datacenter": 30,
    "pci": 12,
    "ot": 14,
    "dmz": 10,
    "external": 4,
}
# Which servers' zones a client's zone uses, with shares of its habits.
REACH: dict[str, dict[str, float]] = {
    "workstations": {"datacenter": 0.7, "dmz": 0.3},
    "vpn": {"datacenter": 0.6, "dmz": 0.4},
    "datacenter": {"datacenter": 0.8, "pci": 0.1, "dmz": 0.1},
    "pci": {"pci": 0.7, "datacenter": 0.3},
    "ot": {"ot": 0.85, "datacenter": 0.15},
    "dmz": {"dmz": 0.5, "datacenter": 0.5},
    "external": {"dmz": 1.0},
}


@dataclass(frozen=True)
class LiveServer:
    spec: ServerSpec
    certificate: x509.Certificate

    @property
    def host(self) -> str:
        return self.spec.host

    @property
    def zone(self) -> str:
        return self.spec.zone

    @property
    def ip(self) -> str:
        return self.spec.ip

    @property
    def serial(self) -> str:
        return serial_hex(self.certificate.serial_number)


@dataclass(frozen=True)
class LiveClient:
    ip: str
    zone: str
    software: Software
    sha256: bool  # SHA-256 CertIDs, else SHA-1
    nonce: bool  # a nonce in every request
    servers: tuple[int, ...]  # indexes into the enterprise's servers: the habits
    weights: tuple[float, ...]  # relative use of each habitual server
    activity: float  # relative requests per unit of time

    @property
    def user_agent(self) -> str | None:
        return self.software.user_agent


@dataclass(frozen=True)
class LiveEnterprise:
    issuer: x509.Certificate  # HOME/pki's issuing CA, the issuer of every server
    servers: tuple[LiveServer, ...]
    clients: tuple[LiveClient, ...]
    issued: tuple[str, ...]  # hosts whose certificate this call issued (or renewed)
    revoked: tuple[str, ...]  # serials this call revoked

    @property
    def revoked_server(self) -> LiveServer:
        return next(s for s in self.servers if s.host == REVOKED_HOST)


def prepare_live_enterprise(
    home: Home,
    *,
    clock: Callable[[], datetime],
    console: Console | None = None,
    seed: int = 1,
) -> LiveEnterprise:
    """Issue what is missing (the home must have a CA: ``certsight ca init`` or
    ``certsight run``), revoke the compromised server's certificate if it is still good,
    and return the enterprise with its client population."""
    layout = home.pki
    issuer = load_pem_certificate(layout.issuing_cert)
    issuer_key = key_sha1(issuer)
    out = home.certs / LIVE_DIR
    issued: list[str] = []
    revoked: list[str] = []
    servers: list[LiveServer] = []
    store = open_store(home.store_uri)
    try:
        for spec in SERVERS:
            pem = out / f"{file_stem(spec.host)}.pem"
            certificate = _reusable(pem, issuer, clock())
            if certificate is None:
                _archive(out, spec.host)  # an old, foreign or half-written one
                files = issue_to_files(
                    layout=layout,
                    store=store,
                    raw_dir=home.raw,
                    clock=clock,
                    common_name=spec.host,
                    sans=[spec.host, spec.ip],
                    days=spec.days,
                    out_dir=out,
                    requester=spec.requester,
                )
                certificate = files.issued.certificate
                issued.append(spec.host)
            servers.append(LiveServer(spec, certificate))
        compromised = next(s for s in servers if s.host == REVOKED_HOST)
        record = store.get(issuer_key, compromised.serial)
        if record is not None and record.status is CertStatus.good:
            revoke_serial(
                store=store,
                raw_dir=home.raw,
                clock=clock,
                serial=compromised.serial,
                reason=RevocationReason.keyCompromise,
                issuer_key_sha1=issuer_key,
            )
            revoked.append(compromised.serial)
    finally:
        store.close()
    if console is not None and (issued or revoked):
        console.print(
            f"live enterprise: issued {len(issued)} certificate(s) under {out}"
            + (f", revoked {REVOKED_HOST} (keyCompromise)" if revoked else "")
        )
    return LiveEnterprise(
        issuer=issuer,
        servers=tuple(servers),
        clients=build_clients(SERVERS, seed),
        issued=tuple(issued),
        revoked=tuple(revoked),
    )


def _reusable(pem: Path, issuer: x509.Certificate, now: datetime) -> x509.Certificate | None:
    """The certificate in ``pem`` if this CA issued it and it is not due for renewal
    (two thirds of its life, as the simulator's servers renew)."""
    if not pem.exists():
        return None
    try:
        certificate = x509.load_pem_x509_certificate(pem.read_bytes())
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return None  # unreadable, or from a CA this home no longer has
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if now >= start + (end - start) * 2 / 3:
        return None
    return certificate


def _archive(out: Path, host: str) -> None:
    """Move a certificate's files aside so that its successor can take their names."""
    stem = file_stem(host)
    files = [out / f"{stem}{suffix}" for suffix in (".pem", ".key", ".chain.pem")]
    if not any(f.exists() for f in files):
        return
    try:
        serial = serial_hex(x509.load_pem_x509_certificate(files[0].read_bytes()).serial_number)
    except (OSError, ValueError):
        serial = "unreadable"
    archive = out / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    for source in files:
        if source.exists():
            source.replace(archive / f"{stem}-{serial}{source.name.removeprefix(stem)}")


def build_clients(servers: tuple[ServerSpec, ...], seed: int) -> tuple[LiveClient, ...]:
    """The fixed population: the same ``seed`` gives the same clients, addresses and habits.
    Every server is the habit of at least one client; no client uses a server's address."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not secrets
    taken = {int(ipaddress.IPv4Address(s.ip)) for s in servers}
    clients: list[LiveClient] = []
    for zone, count in CLIENTS_PER_ZONE.items():
        mix = ZONE_SOFTWARE[zone]
        for _ in range(count):
            software = rng.choices(list(mix), weights=list(mix.values()))[0]
            habits, weights = _habits(rng, zone, servers)
            clients.append(
                LiveClient(
                    ip=_address(rng, zone, taken),
                    zone=zone,
                    software=software,
                    sha256=rng.random() < software.sha256_share,
                    nonce=rng.random() < software.nonce_share,
                    servers=habits,
                    weights=weights,
                    activity=round(software.rate * rng.lognormvariate(0.0, 0.5), 4),
                )
            )
    return _cover_every_server(rng, clients, servers)


def _address(rng: random.Random, zone: str, taken: set[int]) -> str:
    network, holes = rng.choice(CLIENT_POOLS[zone])
    parsed = ipaddress.IPv4Network(network)
    avoid = [ipaddress.IPv4Network(h) for h in holes]
    base, size = int(parsed.network_address), parsed.num_addresses
    for _ in range(10_000):
        value = base + rng.randrange(1, size - 1)
        address = ipaddress.IPv4Address(value)
        if value % 256 in (0, 255) or value in taken or any(address in h for h in avoid):
            continue
        taken.add(value)
        return str(address)
    raise ValueError(f"no free address left in {network}")


def _habits(
    rng: random.Random, zone: str, servers: tuple[ServerSpec, ...]
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """1 to 5 distinct servers, drawn by the zone's reach, each with a weight."""
    reach = REACH[zone]
    per_zone = {z: sum(1 for s in servers if s.zone == z) for z in reach}
    candidates = [i for i, s in enumerate(servers) if s.zone in reach]
    chances = [reach[servers[i].zone] / per_zone[servers[i].zone] for i in candidates]
    wanted = min(rng.randint(1, MAX_HABITS), len(candidates))
    chosen: list[int] = []
    while len(chosen) < wanted:
        index = rng.choices(range(len(candidates)), weights=chances)[0]
        chosen.append(candidates.pop(index))
        chances.pop(index)
    weights = tuple(round(rng.lognormvariate(0.0, 0.8), 4) for _ in chosen)
    return tuple(chosen), weights


def _cover_every_server(
    rng: random.Random, clients: list[LiveClient], servers: tuple[ServerSpec, ...]
) -> tuple[LiveClient, ...]:
    """A server nobody drew becomes a habit of a client that can reach it."""
    for index, server in enumerate(servers):
        if any(index in c.servers for c in clients):
            continue
        able = [
            i
            for i, c in enumerate(clients)
            if server.zone in REACH[c.zone] and len(c.servers) < MAX_HABITS
        ]
        pick = rng.choice(able)
        client = clients[pick]
        clients[pick] = replace(
            client, servers=(*client.servers, index), weights=(*client.weights, 1.0)
        )
    return tuple(clients)
