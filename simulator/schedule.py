"""Requests decided in advance rather than drawn hour by hour.

- First contacts: on the first day a client is active, each of its habits is used
  at least once (the natural count, but never zero), so a detector that learns
  edges sees every habitual pair on that day and no habit surfaces later as new.
- Heartbeats: one request per server and day from one of its habitual clients, so
  no server in ordinary traffic ever has an empty day by chance.
- Incident requests (new edges, scans, unknown CertIDs, revoked certificates
  still in use, volume spikes).

Hourly generation leaves out the first days' habit traffic (drawn here instead),
which keeps every habit a Poisson process with its own rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config import DAY_US, SimulationConfig
from simulator.habits import Habits, day_weights
from simulator.incidents import Events
from simulator.population import Clients
from simulator.rhythm import times_in_day


@dataclass
class Scheduled:
    """Requests in time order; ``entry`` -1 means "the server's current certificate"."""

    moment: np.ndarray  # int64
    client: np.ndarray  # int32
    server: np.ndarray  # int32
    entry: np.ndarray  # int32

    def between(self, start_us: int, end_us: int) -> slice:
        low, high = np.searchsorted(self.moment, [start_us, end_us])
        return slice(int(low), int(high))


def schedule(
    rng: np.random.Generator,
    config: SimulationConfig,
    clients: Clients,
    servers: int,
    habits: Habits,
    incident_events: Events,
) -> Scheduled:
    weights = day_weights(config)
    first_day = clients.start_day[habits.client].astype(np.int64)
    natural = habits.rate * weights[habits.rhythm, np.minimum(first_day, weights.shape[1] - 1)]
    counts = np.maximum(1, rng.poisson(natural))
    repeated = np.repeat(np.arange(len(habits)), counts)
    first_moments = times_in_day(
        rng, habits.rhythm[repeated], config.start_us + first_day[repeated] * DAY_US
    )
    beat_habit, beat_moments = _heartbeats(rng, config, clients, servers, habits)
    moment = np.concatenate(
        [first_moments, beat_moments, np.array(incident_events.moment, np.int64)]
    )
    client = np.concatenate(
        [habits.client[repeated], habits.client[beat_habit], np.array(incident_events.client)]
    ).astype(np.int32)
    server = np.concatenate(
        [habits.server[repeated], habits.server[beat_habit], np.array(incident_events.server)]
    ).astype(np.int32)
    entry = np.concatenate(
        [np.full(len(repeated) + len(beat_habit), -1), np.array(incident_events.entry)]
    ).astype(np.int32)
    keep = (moment >= config.start_us) & (moment < config.end_us)
    order = np.argsort(moment[keep], kind="stable")
    return Scheduled(
        moment[keep][order], client[keep][order], server[keep][order], entry[keep][order]
    )


def _heartbeats(
    rng: np.random.Generator,
    config: SimulationConfig,
    clients: Clients,
    servers: int,
    habits: Habits,
) -> tuple[np.ndarray, np.ndarray]:
    """One habit per server and day (from day 1; day 0 has every habit's first contact)."""
    founding = np.flatnonzero(clients.start_day[habits.client] == 0)
    by_server = founding[np.argsort(habits.server[founding], kind="stable")]
    counts = np.bincount(habits.server[founding], minlength=servers)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    served = np.flatnonzero(counts > 0)
    days = np.arange(1, config.simulated_days)
    server_of = np.repeat(served, len(days))
    day_of = np.tile(days, len(served))
    pick = offsets[server_of] + (rng.random(len(server_of)) * counts[server_of]).astype(np.int64)
    habit = by_server[pick]
    moments = times_in_day(rng, habits.rhythm[habit], config.start_us + day_of * DAY_US)
    return habit, moments
