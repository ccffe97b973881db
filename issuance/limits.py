"""Per-caller rate limits, counted in this process with the ``limits`` library.

A sliding-window counter per requester (``api:<token>``, ``iam:<principal>``): a burst
cannot straddle two fixed windows to double its allowance, and unlike a moving window
it keeps two counters per caller, not one entry per request (a pipeline allowed a
million an hour would otherwise cost a million timestamps). Counts are per process;
several server workers or Lambda instances each allow the full rate (docs/issuance.md).
"""

from __future__ import annotations

import functools
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from issuance.problems import RATE_LIMITED, Problem


@functools.lru_cache(maxsize=256)
def _items(rate: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(rate))


class RateLimiter:
    def __init__(self) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    def hit(self, requester: str, rate: str) -> None:
        """Count one request; raise ``rate-limited`` with Retry-After when over."""
        for item in _items(rate):
            if not self._limiter.hit(item, requester):
                stats = self._limiter.get_window_stats(item, requester)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                raise Problem(
                    RATE_LIMITED,
                    f"{requester} may make {item} requests; try again in {wait} s",
                    retry_after=wait,
                )
