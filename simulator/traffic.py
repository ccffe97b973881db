"""One hour of OCSP requests: who asked about which CertID, when.

Habit traffic is a Poisson process per habit. Rather than one draw per habit and
hour (a million habits, hundreds of hours), the hour's total per rhythm is drawn
once and spread over the habits in proportion to their rates (sampling.py): the
same process, at the cost of the requests themselves. Each
hour has its own random stream (seed, hour), so an hour's traffic does not depend
on how the hours before it were written. Staplers ask once an hour at their own
minute; scheduled requests (first contacts, heartbeats, incidents) are merged in;
a server having a silent day (an incident) loses every request of that day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.catalogue import CatalogueArrays
from simulator.config import DAY_US, HOUR_US, SimulationConfig
from simulator.habits import Habits
from simulator.inventory import active_certificate
from simulator.population import Clients
from simulator.rhythm import Rhythm, hour_weight
from simulator.sampling import GuidedSampler
from simulator.schedule import Scheduled
from simulator.sorting import order as sort_order

TRAFFIC_STREAM = 1_001


@dataclass
class Requests:
    """An hour's OCSP requests in time order, one CertID each."""

    moment: np.ndarray  # int64, µs since the epoch
    client: np.ndarray  # int32
    server: np.ndarray  # int32, -1 when the CertID names no server of the enterprise
    entry: np.ndarray  # int64, into the catalogue
    cert: np.ndarray  # int64, into the inventory, -1 when not in it

    def __len__(self) -> int:
        return len(self.moment)


class HabitSampler:
    """Draws habit requests for an hour in proportion to the habits' rates."""

    def __init__(self, habits: Habits, clients: Clients, config: SimulationConfig) -> None:
        self.by_rhythm: list[tuple[np.ndarray, GuidedSampler]] = []
        for rhythm in (Rhythm.BUSINESS, Rhythm.MACHINE):
            members = np.flatnonzero(habits.rhythm == rhythm)
            self.by_rhythm.append((members, GuidedSampler(habits.rate[members])))
        # A client's own first day is scheduled in advance: hourly draws start after it.
        self.after_first_day = config.start_us + (clients.start_day.astype(np.int64) + 1) * DAY_US
        self.habits = habits

    def draw(self, rng: np.random.Generator, hour_start: int) -> tuple[np.ndarray, np.ndarray]:
        chosen, moments = [], []
        for rhythm, (members, sampler) in enumerate(self.by_rhythm):
            if sampler.total <= 0:
                continue
            count = int(rng.poisson(sampler.total * hour_weight(rhythm, hour_start)))
            chosen.append(members[sampler.draw(rng.random(count))])
            moments.append(hour_start + rng.integers(0, HOUR_US, count))
        habit = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
        moment = np.concatenate(moments) if moments else np.zeros(0, np.int64)
        keep = moment >= self.after_first_day[self.habits.client[habit]]
        return habit[keep], moment[keep]


@dataclass(frozen=True)
class TrafficModel:
    config: SimulationConfig
    clients: Clients
    habits: Habits
    sampler: HabitSampler
    scheduled: Scheduled
    certificate_keys: np.ndarray
    catalogue: CatalogueArrays
    staplers: np.ndarray  # client indices
    silent: dict[int, np.ndarray]  # day -> servers without any request that day

    def hour(self, hour: int) -> Requests:
        config = self.config
        start = config.start_us + hour * HOUR_US
        rng = np.random.default_rng([config.seed, TRAFFIC_STREAM, hour])
        habit, habit_moment = self.sampler.draw(rng, start)
        jitter = np.clip(rng.normal(0, 60, len(self.staplers)), -240, 240)
        stapler_moment = (
            start
            + (self.clients.phase_s[self.staplers] + jitter).astype(np.int64) * 1_000_000
            + rng.integers(0, 1_000_000, len(self.staplers))
        )
        planned = self.scheduled.between(start, start + HOUR_US)
        moment = np.concatenate([habit_moment, stapler_moment, self.scheduled.moment[planned]])
        client = np.concatenate(
            [self.habits.client[habit], self.staplers, self.scheduled.client[planned]]
        ).astype(np.int32)
        server = np.concatenate(
            [
                self.habits.server[habit],
                self.clients.stapler_of[self.staplers],
                self.scheduled.server[planned],
            ]
        ).astype(np.int32)
        entry = np.concatenate(
            [np.full(len(habit) + len(self.staplers), -1), self.scheduled.entry[planned]]
        ).astype(np.int64)
        keep = (
            self.clients.start_day[client].astype(np.int64) * DAY_US + config.start_us
        ) <= moment
        keep &= moment < config.end_us
        day = (start - config.start_us) // DAY_US
        if day in self.silent:
            keep &= ~np.isin(server, self.silent[day])
        kept = np.flatnonzero(keep)
        order = kept[sort_order(moment[kept] - start, 32)]
        moment, client, server, entry = moment[order], client[order], server[order], entry[order]
        current = entry < 0
        cert = np.full(len(moment), -1, np.int64)
        cert[current] = active_certificate(
            self.certificate_keys, config.start_us, server[current], moment[current]
        )
        entry[current] = 2 * cert[current] + self.clients.sha256[client[current]]
        cert[~current] = self.catalogue.cert[entry[~current]]
        return Requests(moment, client, server, entry, cert)
