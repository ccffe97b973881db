"""Caches that remember across hours: which request is the first of its freshness window.

A cached answer stays fresh for a window (an OCSP response until its nextUpdate,
a CRL until the hourly rebuild); the first request for a key in a window misses,
the rest hit. Each key remembers the last window it was fetched in, so a window
that spans several hours is fetched once. Requests must come in time order, hour
after hour (the simulation's loop does that for both output modes).
"""

from __future__ import annotations

import numpy as np

from simulator.sorting import first_of_each

_WINDOW_BITS = 16  # windows since the start: an hour each for 7 years


class WindowCache:
    def __init__(self, keys: int, window_us: int, start_us: int) -> None:
        self._last = np.full(max(keys, 1), -1, np.int64)
        self._key_bits = int(max(keys, 1)).bit_length() + _WINDOW_BITS
        self._window = window_us
        self._start = start_us

    def misses(
        self, keys: np.ndarray, moments: np.ndarray, phase_us: np.ndarray | int = 0
    ) -> np.ndarray:
        """True for each request (in time order) that finds no fresh answer, and
        remembers the windows fetched."""
        missed = np.zeros(len(keys), bool)
        if not len(keys):
            return missed
        window = (moments - self._start + phase_us) // self._window
        combined = (keys.astype(np.int64) << _WINDOW_BITS) | window
        first = first_of_each(combined, self._key_bits)
        fresh_key = keys[first]
        missed[first] = window[first] > self._last[fresh_key]
        np.maximum.at(self._last, fresh_key, window[first])
        return missed
