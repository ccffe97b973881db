"""Ordinary churn (``certsight simulate --churn``) and what the lifecycle really did.

Real enterprises churn: clients pick up servers their colleagues already use, renewals
reach a pool a day or two late or only on some instances, certificates near expiry wait
for a late renewal. The detectors must stay quiet on the first (or say "low": a pair
the client's zone peers use is the zone's habit) and find the others. This module plans
that churn after the incidents (it never touches an incident's client or server) and
lists, for the truth file, what the lifecycle detectors should find: renewals deployed
late or partly (``renewal_not_deployed``) and certificates in service past their renewal
point with no deployed successor at the end (``expiry_outage_risk``), whether churn made
them or the ordinary late renewals of the inventory did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config import DAY_US, HOUR_US, SimulationConfig
from simulator.habits import PEER_TYPICAL, Habits, zone_users
from simulator.incidents import Events, Plan
from simulator.inventory import NEVER, Certificates
from simulator.population import Clients, Servers
from simulator.truth import Expected, Match

PEER_EDGES_PER_CLIENT = 0.05  # peer-typical new pairs per ordinary client over a simulation
RENEWAL_GRACE_US = 24 * HOUR_US  # old serial this long after the successor: benign
OVERDUE_FRACTION = 5 / 6  # renewal point (2/3) plus a margin of 1/6 of the life
EXPIRY_HORIZON_US = 30 * DAY_US
IN_SERVICE_US = 7 * DAY_US


@dataclass(frozen=True)
class Benign:
    """A new pair the zone's peers already use: at most a low alert."""

    client: int
    server: int
    peers: int


def plan_churn(
    rng: np.random.Generator,
    config: SimulationConfig,
    servers: Servers,
    clients: Clients,
    habits: Habits,
    certificates: Certificates,
    issued_at_us: np.ndarray,
    plan: Plan,
    busy_clients: set[int],
    reserved: set[int],
) -> list[Benign]:
    """Peer-typical new pairs (returned, for the truth), late and partial deployments
    (their requests in ``plan.events``; ``certificates.switch_us`` moved in place)."""
    days = list(config.incident_days)
    if not days:
        return []
    benign = _peer_edges(rng, config, servers, clients, habits, plan.events, days, busy_clients)
    _slipped_deployments(
        rng, config, clients, habits, certificates, issued_at_us, plan.events, reserved
    )
    _renewals_forgotten(rng, config, habits, certificates, reserved)
    return benign


def _peer_edges(
    rng: np.random.Generator,
    config: SimulationConfig,
    servers: Servers,
    clients: Clients,
    habits: Habits,
    events: Events,
    days: list[int],
    busy_clients: set[int],
) -> list[Benign]:
    users = zone_users(habits, clients, len(servers))
    own = set(habits.pairs(len(servers)).tolist())
    has_habits = np.bincount(habits.client, minlength=len(clients)) > 0
    fit = clients.ordinary & (clients.start_day == 0) & has_habits
    pool = [int(c) for c in rng.permutation(np.flatnonzero(fit)) if int(c) not in busy_clients]
    wanted = max(3, round(PEER_EDGES_PER_CLIENT * int(clients.ordinary.sum())))
    found: list[Benign] = []
    for client in pool:
        if len(found) >= wanted:
            break
        zone = int(clients.zone[client])
        typical = np.flatnonzero((users[zone] >= PEER_TYPICAL) & ~servers.stapler)
        options = [s for s in typical.tolist() if client * len(servers) + s not in own]
        if not options:
            continue
        weights = users[zone, options].astype(np.float64)
        server = int(rng.choice(options, p=weights / weights.sum()))
        day = int(rng.choice(days))
        start = config.start_us + day * DAY_US + int(rng.uniform(8, 15) * HOUR_US)
        count = int(rng.integers(3, 11))
        moments = np.sort(start + rng.uniform(0, 6 * HOUR_US, count).astype(np.int64))
        # and then a habit: a few requests on each later day
        for later in range(day + 1, config.simulated_days):
            begin = config.start_us + later * DAY_US + int(rng.uniform(7, 16) * HOUR_US)
            extra = begin + rng.uniform(0, 2 * HOUR_US, int(rng.integers(1, 4))).astype(np.int64)
            moments = np.concatenate([moments, extra])
        moments = moments[moments < config.end_us]
        events.add(np.sort(moments), client, server)
        busy_clients.add(client)
        found.append(Benign(client, server, int(users[zone, server])))
    return found


def _slipped_deployments(
    rng: np.random.Generator,
    config: SimulationConfig,
    clients: Clients,
    habits: Habits,
    certificates: Certificates,
    issued_at_us: np.ndarray,
    events: Events,
    reserved: set[int],
) -> None:
    """Renewals on incident days, one in three each: deployed late (two to three days
    after issuance: no client sees the successor meanwhile), deployed on part of a pool
    (one or two clients keep getting the old certificate for days), or with a benign
    overlap (deployed six to twenty hours after issuance)."""
    first = config.start_us + config.incident_days[0] * DAY_US
    last = config.start_us + (config.incident_days[-1] + 1) * DAY_US - 2 * DAY_US
    successors = [
        j
        for j in range(1, len(certificates))
        if certificates.server[j] == certificates.server[j - 1]
        and int(certificates.server[j]) not in reserved
        and certificates.revoked_us[j - 1] == NEVER
        and first <= certificates.switch_us[j] < last
        and (j + 1 == len(certificates) or certificates.server[j + 1] != certificates.server[j])
    ]
    chosen = [int(j) for j in rng.permutation(successors)[: max(3, config.incidents * 3)]]
    for number, j in enumerate(chosen):
        old = j - 1
        latest = int(certificates.not_after_us[old]) - HOUR_US
        issued = int(issued_at_us[j])
        kind = number % 3
        if kind == 0:  # late everywhere
            delay = int(rng.uniform(50, 72) * HOUR_US)
            certificates.switch_us[j] = min(issued + delay, latest, config.end_us - HOUR_US)
        elif kind == 1:  # part of the pool
            users = np.unique(habits.client[habits.server == certificates.server[j]])
            if not len(users):
                continue
            stuck = rng.choice(users, size=min(len(users), int(rng.integers(1, 3))), replace=False)
            for client in stuck.tolist():
                begin = int(certificates.switch_us[j])
                stop = min(begin + int(rng.uniform(2, 4) * DAY_US), latest, config.end_us)
                count = max(1, int((stop - begin) / (4 * HOUR_US)))
                moments = np.sort(begin + rng.uniform(0, stop - begin, count).astype(np.int64))
                entry = 2 * old + int(clients.sha256[client])
                events.add(moments, int(client), int(certificates.server[j]), entry)
        else:  # a benign overlap, inside the grace
            delay = int(rng.uniform(6, 20) * HOUR_US)
            certificates.switch_us[j] = min(issued + delay, latest, config.end_us - HOUR_US)
        certificates.switch_us[j] -= certificates.switch_us[j] % 1_000_000


def _renewals_forgotten(
    rng: np.random.Generator,
    config: SimulationConfig,
    habits: Habits,
    certificates: Certificates,
    reserved: set[int],
) -> None:
    """A few servers in use whose current certificate (no successor yet) expires 2 to 25
    days after the end, with at least 5/6 of its life behind it: its renewal is overdue
    and nobody did it. Its validity is shortened in place (a shorter-lived certificate,
    issued when it was); every later step reads the inventory as changed."""
    end = config.end_us
    used = set(np.unique(habits.server).tolist())
    last = [
        i
        for i in range(len(certificates))
        if (i + 1 == len(certificates) or certificates.server[i + 1] != certificates.server[i])
        and int(certificates.server[i]) not in reserved
        and int(certificates.server[i]) in used
        and certificates.revoked_us[i] == NEVER
        and end - int(certificates.not_before_us[i]) >= 12 * DAY_US
        and int(certificates.switch_us[i]) < end - 7 * DAY_US
    ]
    for i in [int(c) for c in rng.permutation(last)[: max(2, config.incidents)]]:
        behind = end - int(certificates.not_before_us[i])
        left = rng.uniform(2 * DAY_US, min(25 * DAY_US, behind / 5.5))
        certificates.not_after_us[i] = end + int(left) // 1_000_000 * 1_000_000


def lifecycle_expected(
    config: SimulationConfig,
    certificates: Certificates,
    issued_at_us: np.ndarray,
    issuer_keys: list[str],
    hosts: list[str],
    events: Events,
) -> list[Expected]:
    """What the lifecycle detectors should find, read off the inventory as planned:

    - ``renewal_not_deployed``: an old certificate still requested more than the grace
      after its successor's issuance (the tracker sees whether anyone did);
    - ``expiry_outage_risk``: at the end, the certificate a server presents is past 5/6 of
      its life (renewal point plus margin: no ordinary renewal comes that late), expires
      within 30 days, was requested in the last 7 days (the tracker sees that too), and no
      successor has been deployed.
    """
    expected: list[Expected] = []
    end = config.end_us
    # the latest planned request naming each certificate explicitly (partial deployments)
    named: dict[int, int] = {}
    for moment, entry in zip(events.moment, events.entry, strict=True):
        if entry >= 0:
            named[entry // 2] = max(named.get(entry // 2, 0), moment)
    for old in range(len(certificates)):
        server = int(certificates.server[old])
        has_next = old + 1 < len(certificates) and int(certificates.server[old + 1]) == server
        serial = certificates.serial_hex[old]
        issuer = issuer_keys[int(certificates.ca[old])]
        due = 0
        if has_next:
            due = max(int(certificates.not_before_us[old + 1]), int(issued_at_us[old + 1]))
        # ordinary traffic names the certificate presented, so the old serial outlives the
        # grace only when the deployment came late or a request names it explicitly
        slipped = has_next and (
            int(certificates.switch_us[old + 1]) > due + RENEWAL_GRACE_US
            or named.get(old, 0) > due + RENEWAL_GRACE_US
        )
        if slipped and certificates.revoked_us[old] == NEVER:
            expected.append(
                Expected(
                    f"renewal_not_deployed-{len(expected) + 1:03d}",
                    "renewal_not_deployed",
                    ("serial", "issuer"),
                    Match.CERT_AFTER,
                    f"{hosts[server]} renewed, yet the old certificate is still presented "
                    "a day after",
                    server=server,
                    cert=old,
                    after_us=due + RENEWAL_GRACE_US + 1_000_000,
                    serial=serial,
                    issuer=issuer,
                )
            )
        deployed = has_next and int(certificates.switch_us[old + 1]) < end
        life = int(certificates.not_after_us[old] - certificates.not_before_us[old])
        overdue = int(certificates.not_before_us[old]) + OVERDUE_FRACTION * life <= end
        at_risk = (
            not deployed
            and overdue
            and certificates.revoked_us[old] == NEVER
            and int(certificates.switch_us[old]) < end < int(certificates.not_after_us[old])
            and int(certificates.not_after_us[old]) - end <= EXPIRY_HORIZON_US
        )
        if at_risk:
            expected.append(
                Expected(
                    f"expiry_outage_risk-{len(expected) + 1:03d}",
                    "expiry_outage_risk",
                    ("serial", "issuer"),
                    Match.CERT_AFTER,
                    f"{hosts[server]}'s certificate is past its renewal point, expires "
                    "within 30 days and no successor is deployed",
                    server=server,
                    cert=old,
                    after_us=end - IN_SERVICE_US,
                    serial=serial,
                    issuer=issuer,
                )
            )
    return expected
