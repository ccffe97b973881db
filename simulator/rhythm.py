"""When things happen: the daily and weekly load shapes of people and of machines.

Two rhythms are enough to make baselines realistic: people (workstations, VPN)
validate in business hours on weekdays; machines validate around the clock with
a mild daily swell and a small weekend dip. Hours are UTC (the enterprise sits in
Western Europe, so its business day is 06:00-18:00 UTC).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from simulator.config import DAY_US, HOUR_US


class Rhythm(IntEnum):
    BUSINESS = 0
    MACHINE = 1


# Relative load in each UTC hour, 00:00 to 23:00.
_BUSINESS = np.array(
    [0.04, 0.03, 0.03, 0.03, 0.05, 0.15, 0.55, 0.95, 1.0, 1.0, 0.95, 0.85,
     0.8, 0.95, 1.0, 0.95, 0.8, 0.55, 0.35, 0.25, 0.18, 0.12, 0.08, 0.05]
)  # fmt: skip
_MACHINE = np.array(
    [0.8, 0.78, 0.76, 0.76, 0.78, 0.85, 0.95, 1.05, 1.15, 1.2, 1.2, 1.2,
     1.15, 1.15, 1.2, 1.2, 1.15, 1.1, 1.05, 1.0, 0.95, 0.9, 0.85, 0.82]
)  # fmt: skip
# Share of a day's requests in each UTC hour, per rhythm (rows sum to 1).
HOUR_SHARE = np.vstack([_BUSINESS / _BUSINESS.sum(), _MACHINE / _MACHINE.sum()])
# A weekend day's load relative to a weekday's.
WEEKEND_FACTOR = np.array([0.25, 0.85])


def is_weekend(day_start_us: int) -> bool:
    # 1970-01-01 was a Thursday: day 2 after it (Saturday) is the first weekend day.
    weekday = (day_start_us // DAY_US + 3) % 7  # Monday = 0
    return bool(weekday >= 5)


def day_factor(rhythm: int, day_start_us: int) -> float:
    return float(WEEKEND_FACTOR[rhythm]) if is_weekend(day_start_us) else 1.0


def hour_weight(rhythm: int, hour_start_us: int) -> float:
    """Expected share of a weekday's requests in this hour (weekends scaled down)."""
    day_start = hour_start_us - hour_start_us % DAY_US
    hour_of_day = (hour_start_us % DAY_US) // HOUR_US
    return float(HOUR_SHARE[rhythm, hour_of_day]) * day_factor(rhythm, day_start)


def times_in_day(
    rng: np.random.Generator, rhythms: np.ndarray, day_start_us: np.ndarray
) -> np.ndarray:
    """One moment per entry, within its day, distributed like its rhythm's load."""
    count = len(rhythms)
    hours = np.empty(count, np.int64)
    for rhythm in (Rhythm.BUSINESS, Rhythm.MACHINE):
        chosen = rhythms == rhythm
        hours[chosen] = rng.choice(24, size=int(chosen.sum()), p=HOUR_SHARE[rhythm])
    return day_start_us + hours * HOUR_US + rng.integers(0, HOUR_US, count)
