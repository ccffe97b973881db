"""Which servers each client validates, and how often: the edges a detector learns.

A client's habits are fixed for the whole simulation; ordinary traffic never leaves
them, so any new client-server pair after the learning period is an injected
incident. Rates are scaled so that the simulation meets its request budget, and
lifted where a server would otherwise see so little traffic that an empty day is
plain chance (volume detectors need servers with a real baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config import DAY_US, SimulationConfig
from simulator.population import ZONE, ZONES, Clients, Servers
from simulator.rhythm import WEEKEND_FACTOR, Rhythm, is_weekend
from simulator.software import FAMILIES

AFFINITY: dict[str, dict[str, float]] = {
    "workstations": {"datacenter": 0.75, "dmz": 0.25},
    "vpn": {"datacenter": 0.75, "dmz": 0.25},
    "datacenter": {"datacenter": 0.85, "dmz": 0.1, "pci": 0.05},
    "pci": {"pci": 0.8, "datacenter": 0.2},
    "ot": {"ot": 0.85, "datacenter": 0.15},
    "dmz": {"datacenter": 0.6, "dmz": 0.4},
    "corporate": {"datacenter": 1.0},
    "external": {"dmz": 1.0},
}
MEAN_EXTRA_HABITS = {
    "workstations": 4.0,
    "vpn": 4.0,
    "datacenter": 3.0,
    "pci": 2.0,
    "ot": 2.0,
    "dmz": 2.0,
    "corporate": 1.0,
    "external": 1.0,
}
MAX_HABITS = 20
MIN_WEEKEND_DAY = 12.0  # requests a server should see on a quiet day, budget permitting
PEER_TYPICAL = 2  # other clients of a zone using a server make it the zone's habit


@dataclass
class Habits:
    client: np.ndarray  # int32
    server: np.ndarray  # int32
    rate: np.ndarray  # float64: requests on a weekday
    rhythm: np.ndarray  # int8: the client's

    def __len__(self) -> int:
        return len(self.client)

    def pairs(self, servers: int) -> np.ndarray:
        """One int64 key per habit: ``client * servers + server``."""
        keys: np.ndarray = self.client.astype(np.int64) * servers + self.server
        return keys


def choose_habits(rng: np.random.Generator, clients: Clients, servers: Servers) -> Habits:
    ordinary = np.flatnonzero(clients.ordinary).astype(np.int32)
    zone_names = [ZONES[z] for z in clients.zone[ordinary].tolist()]
    means = np.array([MEAN_EXTRA_HABITS[z] for z in zone_names])
    counts = np.minimum(MAX_HABITS, 1 + rng.poisson(means))
    owner = np.repeat(ordinary, counts)
    server_zones = sorted({ZONE[z] for shares in AFFINITY.values() for z in shares})
    present = [z for z in server_zones if (servers.zone == z).any()]
    # Per client zone, the cumulative share of each server zone that has servers.
    table = np.zeros((len(ZONES), len(present)))
    for zone_name, shares in AFFINITY.items():
        row = np.array([shares.get(ZONES[z], 0.0) for z in present])
        if row.sum() == 0:
            row = np.array([1.0 if ZONES[z] == "datacenter" else 0.0 for z in present])
        table[ZONE[zone_name]] = np.cumsum(row / row.sum())
    picks = rng.random(len(owner))
    rows = table[clients.zone[owner]]
    which_zone = np.minimum((rows < picks[:, None]).sum(axis=1), len(present) - 1)
    chosen = np.zeros(len(owner), np.int32)
    for position, zone in enumerate(present):
        members = np.flatnonzero(servers.zone == zone).astype(np.int32)
        weights = np.cumsum(servers.popularity[members])
        draws = np.flatnonzero(which_zone == position)
        found = np.searchsorted(weights, rng.random(len(draws)) * weights[-1], side="right")
        chosen[draws] = members[np.minimum(found, len(members) - 1)]
    client, server = _orphans_adopted(rng, clients, servers, owner.astype(np.int32), chosen)
    keys = np.unique(client.astype(np.int64) * len(servers) + server)
    client = (keys // len(servers)).astype(np.int32)
    server = (keys % len(servers)).astype(np.int32)
    family_rate = np.array([f.rate for f in FAMILIES])[clients.family[client]]
    rate = family_rate * rng.lognormal(0.0, 0.8, len(client))
    return Habits(client, server, rate, clients.rhythm[client].astype(np.int8))


def _orphans_adopted(
    rng: np.random.Generator,
    clients: Clients,
    servers: Servers,
    client: np.ndarray,
    server: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Every server gets clients from day 0 on: two from zones that use servers of its
    zone, where it has none (a server nobody uses would have a silent baseline)."""
    founding = clients.start_day[client] == 0
    orphans = np.setdiff1d(np.arange(len(servers), dtype=np.int32), server[founding])
    if not len(orphans):
        return client, server
    founders = clients.ordinary & (clients.start_day == 0)
    extra_client, extra_server = [], []
    for zone in np.unique(servers.zone[orphans]).tolist():
        users = [ZONE[z] for z, shares in AFFINITY.items() if shares.get(ZONES[zone], 0.0) > 0]
        candidates = np.flatnonzero(founders & np.isin(clients.zone, users))
        if not len(candidates):
            candidates = np.flatnonzero(founders)
        mine = orphans[servers.zone[orphans] == zone]
        for _ in range(2):  # two clients each (rarely the same one twice: fine)
            extra_client.append(rng.choice(candidates, size=len(mine)).astype(np.int32))
            extra_server.append(mine)
    return np.concatenate([client, *extra_client]), np.concatenate([server, *extra_server])


def zone_users(habits: Habits, clients: Clients, servers: int) -> np.ndarray:
    """``[zone, server]``: how many clients of each zone have the server among their habits
    (habits are unique per pair, so this counts clients). A new pair whose server
    ``PEER_TYPICAL`` or more of the client's zone peers use is churn, not an incident."""
    counts = np.zeros((len(ZONES), servers), np.int32)
    np.add.at(counts, (clients.zone[habits.client], habits.server), 1)
    return counts


def day_weights(config: SimulationConfig) -> np.ndarray:
    """``[rhythm, day]``: a day's expected load relative to a full weekday (the last day
    counts for the part of it that is simulated)."""
    days = config.simulated_days
    weights = np.zeros((2, days))
    for day in range(days):
        day_start = config.start_us + day * DAY_US
        covered = min(1.0, (config.end_us - day_start) / DAY_US)
        for rhythm in (Rhythm.BUSINESS, Rhythm.MACHINE):
            factor = WEEKEND_FACTOR[rhythm] if is_weekend(day_start) else 1.0
            weights[rhythm, day] = factor * covered
    return weights


def fit_rates(
    habits: Habits, clients: Clients, servers: Servers, config: SimulationConfig, budget: float
) -> None:
    """Scale rates in place so that expected requests meet ``budget``, lifting quiet
    servers to ``MIN_WEEKEND_DAY`` where the budget allows it."""
    weights = day_weights(config)
    tails = np.cumsum(weights[:, ::-1], axis=1)[:, ::-1]  # from a day to the end
    start = clients.start_day[habits.client]
    exposure = tails[habits.rhythm, np.minimum(start, weights.shape[1] - 1)]
    quiet_share = WEEKEND_FACTOR[habits.rhythm]
    days = max(1.0, float(weights[Rhythm.MACHINE].sum()))
    floor = min(MIN_WEEKEND_DAY, 0.3 * budget / days / len(servers))
    for _ in range(4):
        habits.rate *= budget / max(1e-9, float((habits.rate * exposure).sum()))
        quiet = np.bincount(habits.server, habits.rate * quiet_share, minlength=len(servers))
        lift = np.where(quiet < floor, floor / np.maximum(quiet, 1e-9), 1.0)
        if (lift <= 1.0).all():
            break
        habits.rate *= np.minimum(lift[habits.server], 1_000.0)
    habits.rate *= budget / max(1e-9, float((habits.rate * exposure).sum()))


def expected_server_day(
    habits: Habits, clients: Clients, servers: int, config: SimulationConfig, day: int
) -> np.ndarray:
    """Expected requests per server on ``day`` from habits alone."""
    weights = day_weights(config)
    active = clients.start_day[habits.client] < day
    per_habit = habits.rate * weights[habits.rhythm, day] * active
    return np.bincount(habits.server, per_habit, minlength=servers)
