"""Every server's certificates over time: issuance, renewal, replacement, revocation.

A certificate is renewed at about two thirds of its life (a few late, close to
expiry: the management reports count those), and clients switch to the new one
a few hours after issuance, always before the old one expires. Certificates
issued before the window are included: day 0 needs them. Early replacements
revoke the old certificate shortly after the switch, so ordinary traffic never
validates a revoked or expired certificate; incidents are the only exception.
Times are whole seconds, as in certificates and CRLs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.config import DAY_US, HOUR_US, SimulationConfig
from simulator.population import Servers

NEVER = np.iinfo(np.int64).max
LATE_RENEWALS = 0.06
FORGOTTEN_VALIDITY_DAYS = (90, 200, 397, 825)


@dataclass(frozen=True)
class Replacement:
    """A certificate replaced before its time: at ``switch_us`` clients move to a new
    one, and the old one is revoked ``revoke_after_us`` later."""

    switch_us: int
    revoke_after_us: int
    reason: str


@dataclass
class Certificates:
    server: np.ndarray  # int32
    ca: np.ndarray  # int8
    serial: list[int]
    not_before_us: np.ndarray  # int64
    not_after_us: np.ndarray  # int64
    switch_us: np.ndarray  # int64: when clients start to validate it
    revoked_us: np.ndarray  # int64, NEVER when not revoked
    reason: list[str | None]
    late: np.ndarray  # bool: its successor was issued close to its expiry
    serial_hex: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.serial)

    def lookup_keys(self, start_us: int) -> np.ndarray:
        """Sorted keys for :func:`active_certificate`: server and switch second."""
        since = np.maximum(self.switch_us - start_us, 0) // 1_000_000
        keys: np.ndarray = (self.server.astype(np.int64) << 32) | since
        return keys


def active_certificate(
    keys: np.ndarray, start_us: int, server: np.ndarray, moment_us: np.ndarray
) -> np.ndarray:
    """Index of the certificate each server presents at each moment."""
    probe = (server.astype(np.int64) << 32) | ((moment_us - start_us) // 1_000_000)
    found: np.ndarray = np.searchsorted(keys, probe, side="right") - 1
    return found


def _seconds(value: float) -> int:
    return int(value) // 1_000_000 * 1_000_000


def plan_certificates(
    rng: np.random.Generator,
    servers: Servers,
    config: SimulationConfig,
    *,
    replacements: dict[int, list[Replacement]],
    forgotten: dict[int, int],
) -> Certificates:
    """Certificates of every server, in (server, switch) order. ``forgotten`` maps a
    server to the moment its only certificate expires, never renewed."""
    rows: list[tuple[int, int, int, int, int, int, str | None, bool]] = []
    for server in range(len(servers)):
        validity = int(servers.validity_days[server]) * DAY_US
        ca = int(servers.ca[server])
        if server in forgotten:
            expiry = forgotten[server]
            days = next(d for d in FORGOTTEN_VALIDITY_DAYS if d * DAY_US > expiry - config.start_us)
            before = _seconds(expiry - days * DAY_US)
            rows.append((server, ca, before, expiry, before, NEVER, None, False))
            continue
        not_before = _seconds(config.start_us - rng.uniform(0.0, 0.62) * validity)
        switch = not_before
        pending = sorted(replacements.get(server, []), key=lambda r: r.switch_us)
        while True:
            not_after = not_before + validity
            late = bool(rng.random() < LATE_RENEWALS)
            share = (
                rng.uniform(0.93, 0.975) if late else min(0.74, max(0.6, rng.normal(0.67, 0.03)))
            )
            issue = _seconds(not_before + share * validity)
            next_switch = _seconds(
                min(issue + rng.uniform(0.25, 6.0) * HOUR_US, not_after - HOUR_US)
            )
            revoked, reason = NEVER, None
            if pending and pending[0].switch_us < next_switch:
                forced = pending.pop(0)
                next_switch = max(_seconds(forced.switch_us), switch + 60_000_000)
                issue = max(next_switch - HOUR_US, min(not_before + 60_000_000, next_switch))
                revoked, reason = _seconds(next_switch + forced.revoke_after_us), forced.reason
                late = False
            rows.append((server, ca, not_before, not_after, switch, revoked, reason, late))
            if issue >= config.end_us:
                break
            not_before, switch = issue, next_switch
    serials = _serials(rng, len(rows))
    server_col, ca_col, before_col, after_col, switch_col, revoked_col, reasons, lates = zip(
        *rows, strict=True
    )
    return Certificates(
        server=np.array(server_col, np.int32),
        ca=np.array(ca_col, np.int8),
        serial=serials,
        not_before_us=np.array(before_col, np.int64),
        not_after_us=np.array(after_col, np.int64),
        switch_us=np.array(switch_col, np.int64),
        revoked_us=np.array(revoked_col, np.int64),
        reason=list(reasons),
        late=np.array(lates, bool),
        serial_hex=[format(s, "032x") for s in serials],
    )


def _serials(rng: np.random.Generator, count: int) -> list[int]:
    """Distinct positive 128-bit serials with a non-zero first octet (32 hex digits)."""
    found: list[int] = []
    seen: set[int] = set()
    while len(found) < count:
        raw = np.frombuffer(rng.bytes(16 * (count - len(found))), np.uint8).reshape(-1, 16).copy()
        raw[:, 0] = raw[:, 0] % 0x7F + 1
        for row in raw:
            value = int.from_bytes(row.tobytes(), "big")
            if value not in seen:
                seen.add(value)
                found.append(value)
    return found


def new_serial(rng: np.random.Generator, taken: set[int]) -> int:
    """A serial no certificate of the inventory has (for unknown-certificate requests)."""
    while True:
        raw = bytearray(rng.bytes(16))
        raw[0] = raw[0] % 0x7F + 1
        value = int.from_bytes(raw, "big")
        if value not in taken:
            return value
