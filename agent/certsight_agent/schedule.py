"""When to renew, and when to try again after a failure. Pure: times in, times out.

The due time is a random point inside the renewal window (the server's, else 2/3 of
the lifetime, 1/2 under 10 days), picked once and kept in DIR/state.json, so that a
fleet does not renew at the same second and repeated timer runs agree. After a failure
the next attempt waits an exponentially growing, jittered delay (kept in the same
file), so a timer firing every few minutes does not hammer a server that is down.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from certsight_agent.clock import iso, parse
from certsight_agent.fsutil import write_atomic

STATE_NAME = "state.json"
SHORT_LIFETIME = timedelta(days=10)
BACKOFF_BASE = timedelta(minutes=5)
BACKOFF_CAP = timedelta(hours=6)


@dataclass(frozen=True)
class RenewalState:
    issuer: str
    serial: str
    window_start: str
    window_end: str
    window_source: str  # "server" or "fallback"
    renew_at: str
    failures: int = 0
    next_attempt: str | None = None
    last_error: str | None = None

    def save(self, out: Path) -> None:
        write_atomic(out / STATE_NAME, json.dumps(asdict(self), indent=2).encode(), mode=0o600)

    @classmethod
    def load(cls, out: Path) -> RenewalState | None:
        try:
            raw = json.loads((out / STATE_NAME).read_text())
            return cls(**{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError):
            return None  # a damaged state only costs a new random point


def fallback_window(not_before: datetime, not_after: datetime) -> tuple[datetime, datetime]:
    """2/3 of the lifetime (1/2 for certificates under 10 days) until halfway from there
    to expiry: the issuance API's own rule, for when it cannot be asked."""
    lifetime = not_after - not_before
    fraction = 0.5 if lifetime < SHORT_LIFETIME else 2 / 3
    start = not_before + lifetime * fraction
    return start, start + (not_after - start) / 2


def pick(start: datetime, end: datetime, rng: random.Random) -> datetime:
    span = max((end - start).total_seconds(), 0.0)
    return start + timedelta(seconds=rng.uniform(0, span))


def with_window(
    state: RenewalState | None,
    *,
    issuer: str,
    serial: str,
    window: tuple[datetime, datetime],
    source: str,
    rng: random.Random,
) -> RenewalState:
    """The state for this certificate and window: the kept random point while the
    window is unchanged, a new one when the server moved it (e.g. to now, for a
    certificate that must be replaced early) or the certificate changed."""
    start, end = iso(window[0]), iso(window[1])
    if state is not None and state.serial == serial and state.issuer == issuer:
        if (state.window_start, state.window_end) == (start, end):
            return replace(state, window_source=source)
        return replace(
            state,
            window_start=start,
            window_end=end,
            window_source=source,
            renew_at=iso(pick(*window, rng)),
        )
    return RenewalState(issuer, serial, start, end, source, iso(pick(*window, rng)))


def is_due(state: RenewalState, at: datetime) -> bool:
    return at >= parse(state.renew_at)


def waiting_after_failure(state: RenewalState, at: datetime) -> bool:
    return state.next_attempt is not None and at < parse(state.next_attempt)


def after_failure(
    state: RenewalState, at: datetime, error: str, rng: random.Random
) -> RenewalState:
    failures = state.failures + 1
    delay = min(BACKOFF_BASE * (2 ** (failures - 1)), BACKOFF_CAP)
    jittered = delay * rng.uniform(0.5, 1.0)  # "equal jitter": never less than half
    return replace(state, failures=failures, next_attempt=iso(at + jittered), last_error=error)


def in_last_tenth(not_before: datetime, not_after: datetime, at: datetime) -> bool:
    return at >= not_after - (not_after - not_before) / 10
