"""Ground truth: one entry per alert a perfect detector raises, with the times the
alert's requests really happened.

Incidents are planned before traffic exists, but their start and end are read off
the traffic itself (the first request of a new edge, the last validation of an
expired certificate), so that every LAKE row of an incident lies within
[start, end]: start is the first request's second (CDN logs keep seconds), end the
last request's exact time. Volume and fan-out incidents are about a fixed day or
hour, and keep it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

from simulator.config import SimulationConfig, iso

DETECTORS = (
    "new_edge",
    "revoked_certificate_validated",
    "unknown_certificate",
    "unknown_issuer",
    "expired_certificate_validated",
    "fanout_spike",
    "volume_anomaly",
    "renewal_not_deployed",
    "expiry_outage_risk",
)


class Match(IntEnum):
    """Which requests belong to an incident."""

    PAIR = 0  # this client validating this server
    CLIENT_WINDOW = 1  # this client within the window
    CERT_AFTER = 2  # this certificate from ``after_us`` on
    ENTRY = 3  # this CertID
    SERVER_WINDOW = 4  # this server within the window


@dataclass
class Expected:
    id: str
    detector: str
    keys: tuple[str, ...]
    match: Match
    note: str
    client: int = -1
    server: int = -1
    cert: int = -1
    entry: int = -1
    after_us: int = 0
    window: tuple[int, int] | None = None
    serial: str | None = None
    issuer: str | None = None
    first_us: int = field(default=np.iinfo(np.int64).max)
    last_us: int = -1
    requests: int = 0

    def seen(self, times: np.ndarray) -> None:
        if len(times):
            self.first_us = min(self.first_us, int(times.min()))
            self.last_us = max(self.last_us, int(times.max()))
            self.requests += len(times)


class TruthTracker:
    """Watches every hour's requests and records when each incident was visible.

    Incidents concern a handful of clients, certificates and CertIDs: each hour's
    requests are first narrowed to those (one lookup per request), and only the few
    left are matched incident by incident."""

    def __init__(self, expected: list[Expected], servers: int) -> None:
        self.expected = expected
        self._servers = servers
        self._pairs = {e.client * servers + e.server: e for e in expected if e.match == Match.PAIR}
        self._clients = {e.client for e in expected if e.match in (Match.PAIR, Match.CLIENT_WINDOW)}
        self._certs = {e.cert for e in expected if e.match == Match.CERT_AFTER}
        self._entries = {e.entry for e in expected if e.match == Match.ENTRY}

    @staticmethod
    def _flags(values: set[int], size: int) -> np.ndarray:
        flags = np.zeros(max(size, max(values, default=-1) + 2), bool)
        flags[list(values)] = True
        flags[-1] = False  # index -1: "none"
        return flags

    def observe(
        self,
        moment: np.ndarray,
        client: np.ndarray,
        server: np.ndarray,
        entry: np.ndarray,
        cert: np.ndarray,
    ) -> None:
        if not len(moment):
            return
        of_client = self._flags(self._clients, int(client.max()) + 1)[client]
        of_cert = self._flags(self._certs, int(cert.max()) + 1)[cert]
        of_entry = self._flags(self._entries, int(entry.max()) + 1)[entry]
        rows = np.flatnonzero(of_client | of_cert | of_entry)
        first, last = int(moment[0]), int(moment[-1])
        for item in self.expected:
            if item.match == Match.SERVER_WINDOW:
                assert item.window is not None
                if last < item.window[0] or first >= item.window[1]:
                    continue
                mask = (server == item.server) & (moment >= item.window[0])
                item.seen(moment[mask & (moment < item.window[1])])
        if not len(rows):
            return
        moment, client, server = moment[rows], client[rows], server[rows]
        entry, cert = entry[rows], cert[rows]
        keys = client.astype(np.int64) * self._servers + server
        for key in np.unique(keys).tolist():
            if key in self._pairs:
                self._pairs[key].seen(moment[keys == key])
        for item in self.expected:
            if item.match == Match.CLIENT_WINDOW:
                assert item.window is not None
                mask = (client == item.client) & (moment >= item.window[0])
                item.seen(moment[mask & (moment < item.window[1])])
            elif item.match == Match.CERT_AFTER:
                item.seen(moment[(cert == item.cert) & (moment >= item.after_us)])
            elif item.match == Match.ENTRY:
                item.seen(moment[entry == item.entry])


def truth_document(
    config: SimulationConfig,
    expected: list[Expected],
    client_ips: list[str],
    hosts: list[str],
    benign: list[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """truth.json: the simulation's frame, one object per expected alert, and the new
    pairs that must raise no alert above low (``benign``: their zone peers use them)."""
    incidents = []
    for item in expected:
        if item.window is not None:
            start, end = item.window
        elif item.requests:
            start, end = item.first_us - item.first_us % 1_000_000, item.last_us
        else:
            continue  # planned but never visible (cut by the end of the simulation)
        incidents.append(
            {
                "id": item.id,
                "detector": item.detector,
                "keys": list(item.keys),
                "client_ip": client_ips[item.client] if item.client >= 0 else None,
                "server": hosts[item.server] if item.server >= 0 else None,
                "serial": item.serial,
                "issuer": item.issuer,
                "start": iso(start),
                "end": iso(end),
                "requests": item.requests,
                "note": item.note,
            }
        )
    return {
        "seed": config.seed,
        "start": iso(config.start_us),
        "end": iso(config.end_us),
        "learning_days": config.learning_days,
        "learning_end": iso(config.start_us + config.learning_days * 86_400_000_000),
        "detectors": list(DETECTORS),
        "incidents": incidents,
        "benign": [
            {
                "detector": "new_edge",
                "client_ip": client_ips[client],
                "server": hosts[server],
                "max_severity": "low",
                "note": "a new pair the client's zone peers already use",
            }
            for client, server in benign or []
        ],
    }
