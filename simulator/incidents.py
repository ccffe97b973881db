"""Injected incidents: what happens, to whom, when, and the alert each should raise.

Planning comes in two steps because some incidents shape the inventory: a
compromised certificate is replaced and revoked, a forgotten server's certificate
expires unrenewed; those are chosen before certificates are planned
(:func:`plan_targets`). The requests of every incident are planned afterwards
(:func:`plan_incidents`). Incidents fall on complete days after the learning
period, never on the last simulated day, and never share a client or a server
with another incident, so that each expected alert has one cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.catalogue import Catalogue, Kind
from simulator.config import DAY_US, HOUR_US, SimulationConfig
from simulator.habits import PEER_TYPICAL, Habits, expected_server_day, zone_users
from simulator.inventory import Certificates, Replacement, active_certificate, new_serial
from simulator.pki import Authority, Hierarchy, foreign_authority
from simulator.population import ZONE, ZONES, Clients, Servers
from simulator.rhythm import is_weekend, times_in_day
from simulator.truth import Expected, Match

MINUTE_US = 60_000_000
SPIKE_FACTOR = 10.0  # a spike day carries ten times the server's usual load
EARLY_REPLACEMENTS = 0.02  # servers replacing a certificate early (not incidents)
BUSY_SERVER_DAY = 60.0  # weekday requests of a server chosen for a volume incident


@dataclass
class Events:
    """Requests planned outside the habits: one row per request."""

    moment: list[int] = field(default_factory=list)
    client: list[int] = field(default_factory=list)
    server: list[int] = field(default_factory=list)  # -1: names no server
    entry: list[int] = field(default_factory=list)  # -1: the server's current certificate

    def add(self, moments: np.ndarray, client: int, server: int, entry: int = -1) -> None:
        count = len(moments)
        self.moment += [int(m) for m in moments]
        self.client += [client] * count
        self.server += [server] * count
        self.entry += [entry] * count


@dataclass
class Targets:
    replacements: dict[int, list[Replacement]]
    forgotten: dict[int, int]  # server -> expiry
    revoked: list[tuple[int, int]]  # (server, revocation moment)
    volume: list[tuple[int, int, bool]]  # (server, day, spike)
    reserved: set[int]  # servers no other incident may touch


@dataclass
class Plan:
    events: Events
    expected: list[Expected]
    drops: list[tuple[int, int]]  # (server, day) without any request
    foreign: list[Authority]
    # new pairs the client's zone peers already use (client, server): at most a low alert
    benign: list[tuple[int, int]] = field(default_factory=list)
    busy_clients: set[int] = field(default_factory=set)  # clients an incident uses


def _day_start(config: SimulationConfig, day: int) -> int:
    return config.start_us + day * DAY_US


def _expected_weekday(
    habits: Habits, clients: Clients, servers: int, config: SimulationConfig
) -> np.ndarray:
    day = min(config.learning_days, config.simulated_days - 1)
    return expected_server_day(habits, clients, servers, config, day)


def plan_targets(
    rng: np.random.Generator,
    config: SimulationConfig,
    servers: Servers,
    clients: Clients,
    habits: Habits,
) -> Targets:
    count = config.incidents
    days = list(config.incident_days)
    users = np.bincount(
        habits.server[clients.start_day[habits.client] == 0], minlength=len(servers)
    )
    volume = _expected_weekday(habits, clients, len(servers), config)
    order = rng.permutation(len(servers))
    reserved: set[int] = set()

    def take(condition: np.ndarray, prefer: np.ndarray | None = None) -> int | None:
        """A random unreserved server meeting ``condition`` (from the busier half of
        them by ``prefer``, when given)."""
        pool = order[condition[order]]
        if prefer is not None and len(pool):
            busiest = pool[np.argsort(-prefer[pool], kind="stable")][: max(1, len(pool) // 2)]
            pool = busiest[rng.permutation(len(busiest))]
        for server in pool.tolist():
            if server not in reserved:
                reserved.add(server)
                return int(server)
        return None

    with_users = (users >= 2) & ~servers.stapler
    replacements: dict[int, list[Replacement]] = {}
    revoked: list[tuple[int, int]] = []
    forgotten: dict[int, int] = {}
    spikes_and_drops: list[tuple[int, int, bool]] = []
    if days:
        for _ in range(count):
            server = take(with_users)
            if server is None:
                break
            moment = _day_start(config, int(rng.choice(days))) + int(rng.uniform(9, 15) * HOUR_US)
            moment -= moment % 1_000_000
            replacements[server] = [Replacement(moment - HOUR_US, HOUR_US, "keyCompromise")]
            revoked.append((server, moment))
        for _ in range(count):
            server = take(with_users)
            if server is None:
                break
            expiry = _day_start(config, int(rng.choice(days))) + int(rng.uniform(1, 20) * HOUR_US)
            forgotten[server] = expiry - expiry % 1_000_000
        weekdays = [d for d in days if not is_weekend(_day_start(config, d))] or days
        for index in range(count):
            spike = index % 2 == 1
            # A server with a real baseline: a silent day of a server that sees a
            # handful of requests a day is noise, not an incident.
            server = take((volume >= BUSY_SERVER_DAY) & ~servers.stapler, prefer=volume)
            if server is None:
                server = take(~servers.stapler, prefer=volume)
            if server is None:
                break
            day = int(rng.choice(weekdays if spike else days))
            spikes_and_drops.append((server, day, spike))
    # Ordinary life: a few certificates replaced early, the old one revoked soon after.
    early = max(1, round(EARLY_REPLACEMENTS * len(servers)))
    span = config.end_us - config.start_us
    for _ in range(early):
        server = take(np.ones(len(servers), bool))
        if server is None or span < 2 * DAY_US:
            break
        moment = config.start_us + int(rng.uniform(0.3 * DAY_US, span - 1.5 * DAY_US))
        delay = int(rng.uniform(0.5, 6.0) * HOUR_US)
        reason = "superseded" if rng.random() < 0.7 else "affiliationChanged"
        replacements.setdefault(server, []).append(Replacement(moment, delay, reason))
    return Targets(replacements, forgotten, revoked, spikes_and_drops, reserved)


class _ClientPool:
    """Clients free for an incident: ordinary, active from day 0, with habits, unused."""

    def __init__(self, rng: np.random.Generator, clients: Clients, habits: Habits) -> None:
        has_habits = np.bincount(habits.client, minlength=len(clients)) > 0
        fit = clients.ordinary & (clients.start_day == 0) & has_habits
        self._order = [int(c) for c in rng.permutation(np.flatnonzero(fit))]
        self.used: set[int] = set()
        self._clients = clients

    def take(self, zones: tuple[str, ...] | None = None, *, no_sha256: bool = False) -> int | None:
        wanted = None if zones is None else {ZONE[z] for z in zones}
        for client in self._order:
            if client in self.used:
                continue
            if wanted is not None and int(self._clients.zone[client]) not in wanted:
                continue
            if no_sha256 and bool(self._clients.sha256[client]):
                continue
            self.used.add(client)
            return client
        return None if zones is None else self.take(None, no_sha256=no_sha256)

    def reserve(self, client: int) -> None:
        self.used.add(client)


def _spread(
    rng: np.random.Generator, start: int, hours: tuple[float, float], count: int, end_us: int
) -> np.ndarray:
    """``count`` moments from ``start`` over a span drawn from ``hours``, before the end."""
    span = rng.uniform(*hours) * HOUR_US
    moments = np.sort(start + rng.uniform(0, span, count).astype(np.int64))
    return moments[moments < end_us]


def plan_incidents(
    rng: np.random.Generator,
    config: SimulationConfig,
    servers: Servers,
    clients: Clients,
    habits: Habits,
    certificates: Certificates,
    catalogue: Catalogue,
    hierarchy: Hierarchy,
    targets: Targets,
) -> Plan:
    """Requests and expected alerts of every incident; appends the CertIDs of unknown
    serials and foreign issuers to ``catalogue``."""
    plan = Plan(Events(), [], [], [])
    if not config.incident_days or config.incidents == 0:
        return plan
    planner = _Planner(
        rng, config, servers, clients, habits, certificates, catalogue, hierarchy, targets, plan
    )
    planner.new_edges()
    planner.scans()
    planner.unknown_certificates()
    planner.unknown_issuers()
    planner.revoked()
    planner.expired()
    planner.volume()
    planner.settle_new_edges()
    plan.busy_clients = set(planner.pool.used)
    return plan


class _Planner:
    """One method per detector; each adds its incidents' requests and expected alerts."""

    def __init__(
        self,
        rng: np.random.Generator,
        config: SimulationConfig,
        servers: Servers,
        clients: Clients,
        habits: Habits,
        certificates: Certificates,
        catalogue: Catalogue,
        hierarchy: Hierarchy,
        targets: Targets,
        plan: Plan,
    ) -> None:
        self.rng, self.config, self.servers, self.clients = rng, config, servers, clients
        self.habits, self.certificates, self.catalogue = habits, certificates, catalogue
        self.hierarchy, self.targets, self.plan = hierarchy, targets, plan
        self.days = list(config.incident_days)
        self.count = config.incidents
        self.pool = _ClientPool(rng, clients, habits)
        self.habit_keys = set(habits.pairs(len(servers)).tolist())
        self.free_servers = np.array(
            [s for s in range(len(servers)) if s not in targets.reserved], np.int64
        )
        self.taken_serials = set(certificates.serial)
        self.edges = 0  # new_edge alerts so far, from new edges and from scans
        self.zone_users = zone_users(habits, clients, len(servers))

    # -- helpers ------------------------------------------------------------------
    def _moment(self) -> int:
        """A business-hours moment on one of the incident days."""
        day = int(self.rng.choice(self.days))
        return _day_start(self.config, day) + int(self.rng.uniform(8, 14) * HOUR_US)

    def _burst(self, hours: tuple[float, float], low: int, high: int) -> np.ndarray:
        count = int(self.rng.integers(low, high + 1))
        return _spread(self.rng, self._moment(), hours, count, self.config.end_us)

    def _is_new(self, client: int, server: int) -> bool:
        return client * len(self.servers) + server not in self.habit_keys

    def _peers(self, client: int, server: int) -> int:
        """Other clients of the client's zone that have the server among their habits."""
        return int(self.zone_users[int(self.clients.zone[client]), server])

    def _expect(
        self,
        detector: str,
        number: int,
        keys: tuple[str, ...],
        match: Match,
        note: str,
        **fields: object,
    ) -> None:
        self.plan.expected.append(
            Expected(f"{detector}-{number + 1:02d}", detector, keys, match, note, **fields)  # type: ignore[arg-type]
        )

    def _new_edge(self, client: int, server: int, note: str) -> None:
        self._expect(
            "new_edge",
            self.edges,
            ("client_ip", "server"),
            Match.PAIR,
            note,
            client=client,
            server=server,
        )
        self.edges += 1

    def settle_new_edges(self) -> None:
        """A planned new pair whose zone peers validated its server before it did (from
        their habits or from another incident's requests) is the zone's habit by then:
        benign (at most a low alert), not an expected new_edge."""
        servers = len(self.servers)
        first: dict[int, int] = {}  # client * servers + server -> first planned request
        for moment, client, server in zip(
            self.plan.events.moment, self.plan.events.client, self.plan.events.server, strict=True
        ):
            if server >= 0:
                key = client * servers + server
                first[key] = min(first.get(key, moment), moment)
        kept: list[Expected] = []
        for item in self.plan.expected:
            if item.detector != "new_edge":
                kept.append(item)
                continue
            zone = int(self.clients.zone[item.client])
            start = first.get(item.client * servers + item.server, 0)
            newcomers = {
                key // servers
                for key, moment in first.items()
                if key % servers == item.server
                and moment < start
                and key // servers != item.client
                and int(self.clients.zone[key // servers]) == zone
                and key not in self.habit_keys
            }
            if self._peers(item.client, item.server) + len(newcomers) >= PEER_TYPICAL:
                self.plan.benign.append((item.client, item.server))
            else:
                kept.append(item)
        self.plan.expected = kept

    # -- one method per detector -----------------------------------------------------
    def new_edges(self) -> None:
        """A known client starts validating a server that no client of its zone uses;
        every other one crosses from the office into PCI or OT."""
        for number in range(self.count):
            cross = number % 2 == 0
            client = self.pool.take(("workstations", "vpn") if cross else None)
            if client is None:
                return
            zones = [ZONE[z] for z in (("pci", "ot") if cross else ZONES)]
            in_zones = self.free_servers[np.isin(self.servers.zone[self.free_servers], zones)]
            # a server no peer of the client's zone uses: what its zone never does
            options = [
                s
                for s in in_zones.tolist()
                if self._is_new(client, s) and not self._peers(client, s)
            ] or [
                s
                for s in self.free_servers.tolist()
                if self._is_new(client, s) and not self._peers(client, s)
            ]
            if not options:
                return
            server = int(self.rng.choice(options))
            moments = self._burst((2, 8), 4, 12)
            self.plan.events.add(moments, client, server)
            client_zone = ZONES[self.clients.zone[client]]
            server_zone = ZONES[self.servers.zone[server]]
            self._new_edge(
                client,
                server,
                f"a client in {client_zone} starts validating a server in {server_zone} "
                f"it never validated ({len(moments)} requests over hours)",
            )

    def scans(self) -> None:
        """A client validates 40 to 150 distinct servers within one hour; each server it
        had never validated is a new edge too."""
        for number in range(self.count):
            client = self.pool.take(("workstations", "vpn", "datacenter"))
            if client is None:
                return
            day = int(self.rng.choice(self.days))
            hour_start = _day_start(self.config, day) + int(self.rng.integers(9, 17)) * HOUR_US
            width = min(int(self.rng.integers(40, 151)), len(self.free_servers))
            name = f"fanout_spike-{number + 1:02d}"
            for server in self.rng.choice(self.free_servers, size=width, replace=False).tolist():
                count = int(self.rng.integers(1, 3))
                moments = np.sort(hour_start + self.rng.integers(0, HOUR_US, count))
                self.plan.events.add(moments, client, server)
                if not self._is_new(client, server):
                    continue
                if self._peers(client, server) >= PEER_TYPICAL:
                    self.plan.benign.append((client, server))  # its zone's habit: low
                else:
                    self._new_edge(client, server, f"new edge opened by the scan {name}")
            self._expect(
                "fanout_spike",
                number,
                ("client_ip", "start", "end"),
                Match.CLIENT_WINDOW,
                f"{ZONES[self.clients.zone[client]]} client validates {width} "
                "distinct servers within one hour",
                client=client,
                window=(hour_start, hour_start + HOUR_US),
            )

    def unknown_certificates(self) -> None:
        """Requests naming a real issuing CA and a serial it never issued."""
        for number in range(self.count):
            client = self.pool.take()
            if client is None:
                return
            issuer = self.hierarchy.issuing[int(self.rng.integers(0, len(self.hierarchy.issuing)))]
            serial = new_serial(self.rng, self.taken_serials)
            self.taken_serials.add(serial)
            entry = self.catalogue.add(
                int(self.clients.sha256[client]),
                issuer,
                serial,
                -1,
                Kind.UNKNOWN_SERIAL,
                known=True,
            )
            self.plan.events.add(self._burst((1, 6), 3, 10), client, -1, entry)
            self._expect(
                "unknown_certificate",
                number,
                ("serial", "issuer"),
                Match.ENTRY,
                f"serial never issued by {issuer.certificate.subject.rfc4514_string()}",
                client=client,
                entry=entry,
                serial=self.catalogue.serial_hex(entry),
                issuer=issuer.key_sha1,
            )

    def unknown_issuers(self) -> None:
        """SHA-1 CertIDs whose issuer hashes match none of the enterprise's CAs."""
        for number in range(self.count):
            client = self.pool.take(no_sha256=True)
            if client is None:
                return
            foreign = foreign_authority(self.config.seed, number + 1, self.config.start)
            self.plan.foreign.append(foreign)
            serial = new_serial(self.rng, self.taken_serials)
            entry = self.catalogue.add(0, foreign, serial, -1, Kind.UNKNOWN_ISSUER, known=False)
            self.plan.events.add(self._burst((1, 6), 3, 10), client, -1, entry)
            self._expect(
                "unknown_issuer",
                number,
                ("issuer",),
                Match.ENTRY,
                f"SHA-1 CertID naming {foreign.certificate.subject.rfc4514_string()}, "
                "not a CA of the enterprise",
                client=client,
                entry=entry,
                serial=self.catalogue.serial_hex(entry),
                issuer=foreign.key_sha1,
            )

    def revoked(self) -> None:
        """A compromised certificate is replaced and revoked; one to three of its
        server's clients keep validating it (something still presents it)."""
        keys = self.certificates.lookup_keys(self.config.start_us)
        for number, (server, moment) in enumerate(self.targets.revoked):
            cert = int(
                active_certificate(
                    keys, self.config.start_us, np.array([server]), np.array([moment - HOUR_US - 1])
                )[0]
            )
            users = [
                c
                for c in np.unique(self.habits.client[self.habits.server == server]).tolist()
                if c not in self.pool.used and self.clients.start_day[c] == 0
            ]
            if not users:
                continue
            size = min(len(users), int(self.rng.integers(1, 4)))
            stale = [int(c) for c in self.rng.choice(users, size=size, replace=False)]
            revoked_at = int(self.certificates.revoked_us[cert])
            for client in stale:
                self.pool.reserve(client)
                begin = revoked_at + int(self.rng.uniform(10, 90) * MINUTE_US)
                count = int(self.rng.integers(3, 13))
                moments = _spread(self.rng, begin, (4, 30), count, self.config.end_us)
                entry = 2 * cert + int(self.clients.sha256[client])
                self.plan.events.add(moments, client, server, entry)
            issuer = self.hierarchy.issuing[int(self.certificates.ca[cert])]
            self._expect(
                "revoked_certificate_validated",
                number,
                ("serial", "issuer"),
                Match.CERT_AFTER,
                f"certificate of {self.servers.host[server]} revoked (keyCompromise); "
                f"{len(stale)} client(s) still validate it",
                client=stale[0],
                server=server,
                cert=cert,
                after_us=revoked_at,
                serial=self.certificates.serial_hex[cert],
                issuer=issuer.key_sha1,
            )

    def expired(self) -> None:
        """A forgotten server: its only certificate expires and its clients go on."""
        for number, server in enumerate(self.targets.forgotten):
            cert = int(np.flatnonzero(self.certificates.server == server)[0])
            issuer = self.hierarchy.issuing[int(self.certificates.ca[cert])]
            self._expect(
                "expired_certificate_validated",
                number,
                ("serial", "issuer", "server"),
                Match.CERT_AFTER,
                f"{self.servers.host[server]} was never renewed; its clients keep "
                "validating the expired certificate",
                server=server,
                cert=cert,
                after_us=int(self.certificates.not_after_us[cert]),
                serial=self.certificates.serial_hex[cert],
                issuer=issuer.key_sha1,
            )

    def volume(self) -> None:
        """A server silent for a whole UTC day, or ten times busier for one."""
        for number, (server, day, spike) in enumerate(self.targets.volume):
            start = _day_start(self.config, day)
            usual = float(
                expected_server_day(self.habits, self.clients, len(self.servers), self.config, day)[
                    server
                ]
            )
            if spike:
                _plan_spike(self.rng, self.plan.events, self.habits, server, start, usual)
                what = f"validations jump to about {SPIKE_FACTOR:.0f}x"
            else:
                self.plan.drops.append((server, day))
                what = "validations drop to zero for the day"
            self._expect(
                "volume_anomaly",
                number,
                ("server", "start", "end"),
                Match.SERVER_WINDOW,
                f"{what} (about {usual:.0f} expected from habits that day)",
                server=server,
                window=(start, start + DAY_US),
            )


def _plan_spike(
    rng: np.random.Generator,
    events: Events,
    habits: Habits,
    server: int,
    day_start: int,
    usual: float,
) -> None:
    """The server's own clients, (SPIKE_FACTOR - 1) times more often that day."""
    own = np.flatnonzero(habits.server == server)
    rates = habits.rate[own]
    extra = int(rng.poisson((SPIKE_FACTOR - 1.0) * max(usual, 20.0)))
    found = np.searchsorted(np.cumsum(rates) / rates.sum(), rng.random(extra))
    picks = own[np.minimum(found, len(own) - 1)]
    moments = times_in_day(rng, habits.rhythm[picks], np.full(extra, day_start, np.int64))
    for client, moment in zip(habits.client[picks].tolist(), moments.tolist(), strict=True):
        events.add(np.array([moment]), client, server)
