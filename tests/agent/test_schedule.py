"""The agent's pure rules: when to renew, how long to back off, who is in a rollout,
which version is newer."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest

from certsight_agent import schedule
from certsight_agent.rollout import bucket, in_rollout
from certsight_agent.versions import BadVersion, version_key

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_fallback_window_is_two_thirds_or_half_under_ten_days() -> None:
    start, end = schedule.fallback_window(T0, T0 + timedelta(days=30))
    assert start == T0 + timedelta(days=20) and end == T0 + timedelta(days=25)
    start, _ = schedule.fallback_window(T0, T0 + timedelta(days=7))
    assert start == T0 + timedelta(days=3.5)


def test_the_random_point_is_kept_until_the_window_moves() -> None:
    rng = random.Random(7)
    window = (T0 + timedelta(days=20), T0 + timedelta(days=25))
    first = schedule.with_window(
        None, issuer="i", serial="01", window=window, source="server", rng=rng
    )
    assert window[0] <= datetime.fromisoformat(first.renew_at) <= window[1]
    same = schedule.with_window(
        first, issuer="i", serial="01", window=window, source="server", rng=rng
    )
    assert same.renew_at == first.renew_at
    moved = (T0 + timedelta(days=1), T0 + timedelta(days=1))  # "renew now"
    early = schedule.with_window(
        first, issuer="i", serial="01", window=moved, source="server", rng=rng
    )
    assert datetime.fromisoformat(early.renew_at) == moved[0]
    other = schedule.with_window(
        first, issuer="i", serial="02", window=window, source="server", rng=rng
    )
    assert other.failures == 0


def test_back_off_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    state = schedule.RenewalState("i", "01", "a", "b", "server", "2026-01-01T00:00:00Z")
    delays = []
    for _ in range(12):
        state = schedule.after_failure(state, T0, "down", rng)
        assert state.next_attempt is not None
        delays.append(datetime.fromisoformat(state.next_attempt) - T0)
    assert timedelta(minutes=2.5) <= delays[0] <= timedelta(minutes=5)
    assert delays[3] >= timedelta(minutes=20)
    assert max(delays) <= schedule.BACKOFF_CAP and state.failures == 12
    assert schedule.waiting_after_failure(state, T0) and not schedule.waiting_after_failure(
        state, T0 + schedule.BACKOFF_CAP
    )


def test_last_tenth() -> None:
    end = T0 + timedelta(days=30)
    assert not schedule.in_last_tenth(T0, end, end - timedelta(days=3, seconds=1))
    assert schedule.in_last_tenth(T0, end, end - timedelta(days=3))


def test_rollout_follows_the_contract_formula() -> None:
    for host in ("a", "b", "c", "0f3c", "machine-1"):
        digest = hashlib.sha256(f"certsight-agent:1.1.0:{host}".encode()).hexdigest()
        assert bucket("certsight-agent", "1.1.0", host) == int(digest[:8], 16) % 100
    inside = [h for h in range(1000) if in_rollout("certsight-agent", "1.1.0", str(h), 10)]
    assert 50 < len(inside) < 150
    assert all(in_rollout("certsight-agent", "1.1.0", str(h), 50) for h in inside)
    assert not in_rollout("certsight-agent", "1.1.0", "x", 0)
    assert in_rollout("certsight-agent", "1.1.0", "x", 100)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.0.0", "1.1.0"),
        ("1.9", "1.10"),
        ("1.1.0rc1", "1.1.0"),
        ("1.1.0.dev1", "1.1.0a1"),
        ("1.1.0a2", "1.1.0b1"),
        ("1.1.0", "1.1.0.post1"),
    ],
)
def test_pep440_order(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)


def test_versions_equal_and_bad() -> None:
    assert version_key("1.1") == version_key("1.1.0")
    with pytest.raises(BadVersion):
        version_key("latest")
