"""Draw many indices in proportion to weights, fast.

A binary search per draw over a million habits costs tens of nanoseconds in cache
misses. A guide table (Chen and Asau, 1974) remembers where each of ``m`` equal
slices of the cumulative weights starts, so a draw starts next to its answer and
usually needs no step at all; results are exactly those of ``searchsorted``.
"""

from __future__ import annotations

import numpy as np


class GuidedSampler:
    def __init__(self, weights: np.ndarray) -> None:
        self.cumulative = np.cumsum(weights.astype(np.float64))
        self.size = len(weights)
        self.total = float(self.cumulative[-1]) if self.size else 0.0
        slices = np.arange(self.size) * (self.total / max(self.size, 1))
        self.guide = np.searchsorted(self.cumulative, slices, side="right")

    def draw(self, uniforms: np.ndarray) -> np.ndarray:
        """The index whose slice of the cumulative weights holds each ``uniform * total``
        (uniforms in [0, 1))."""
        last = self.size - 1
        targets = uniforms * self.total
        slice_of = np.minimum((uniforms * self.size).astype(np.int64), last)
        found = np.minimum(self.guide[slice_of], last)
        behind = np.flatnonzero((self.cumulative[found] <= targets) & (found < last))
        while len(behind):
            found[behind] += 1
            moved = found[behind]
            behind = behind[(self.cumulative[moved] <= targets[behind]) & (moved < last)]
        return found
