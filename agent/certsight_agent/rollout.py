"""Staged rollout (shared contract, point 4; publishing computes the same): a host is in
the rollout of release (name, version) iff

    int(sha256(f"{name}:{version}:{host_id}").hexdigest()[:8], 16) % 100 < rollout

The hash includes the version so that the same hosts are not always the first ones, and
is stable, so a host inside a 10% rollout stays inside when it widens to 50%."""

from __future__ import annotations

import hashlib


def bucket(name: str, version: str, host_id: str) -> int:
    digest = hashlib.sha256(f"{name}:{version}:{host_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 100


def in_rollout(name: str, version: str, host_id: str, rollout: int) -> bool:
    return bucket(name, version, host_id) < rollout
