"""Published files and who downloads them: agent releases, trust stores, documents.

The PKI team's question "which agent versions are out there" needs adoption that
takes time: a release reaches most agents within days, a few lag, and a beta ring
runs ahead. An agent's User-Agent carries its version, so OCSP requests show the
upgrade too. Paths follow what the ingest reads from them (docs/lake.md): kind from
the first segment, channel from the second when there are three, version from the
first ``N.N[.N]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from simulator.config import DAY_US, HOUR_US, SimulationConfig, from_us
from simulator.population import ZONE, Clients
from simulator.rhythm import Rhythm, times_in_day
from simulator.software import AGENT_PREFIX, FAMILY

NEVER = np.iinfo(np.int64).max
BETA_RING = 0.06
LAGGARDS = 0.1
# (version, channel, moment as a share of the window; negative: before it)
AGENT_RELEASES = (
    ("1.4.2", "stable", -1.0),
    ("1.5.0", "stable", 0.3),
    ("1.5.1", "stable", 0.75),
    ("1.6.0", "beta", 0.5),
)
DOCUMENTS = (("pki-user-guide.pdf", 2_411_724), ("ocsp-howto.html", 18_342))
DOC_DOWNLOADS_PER_CLIENT_DAY = 0.002


@dataclass(frozen=True)
class Artifact:
    path: str
    kind: str  # agent, truststore, doc (the ingest's names)
    name: str
    version: str | None
    channel: str | None
    size: int
    content_type: str


@dataclass
class Downloads:
    """Planned downloads in time order, and each agent's version over time."""

    artifacts: list[Artifact]
    moment: np.ndarray  # int64
    client: np.ndarray  # int32
    artifact: np.ndarray  # int32
    agent_versions: list[str]
    agent_row: np.ndarray  # int32 per client, -1 when it runs no agent
    adoption: np.ndarray  # int64 [agent row, version]: when it runs that version

    def agent_agents(self) -> list[str]:
        return [AGENT_PREFIX + v for v in self.agent_versions]

    def version_at(self, client: np.ndarray, moment: np.ndarray) -> np.ndarray:
        """Index into ``agent_versions`` of what each agent client runs at each moment."""
        rows = self.adoption[self.agent_row[client]]
        running = rows <= moment[:, None]
        width = running.shape[1]
        latest = width - 1 - np.argmax(running[:, ::-1], axis=1)
        return np.where(running.any(axis=1), latest, 0)


def _agent_artifact(version: str, channel: str, windows: bool) -> Artifact:
    platform = "windows-x64.msi" if windows else "linux-amd64.tar.gz"
    name = f"certsight-agent-{version}-{platform}"
    size = (24_117_248 if windows else 14_680_064) + sum(ord(c) for c in version) * 1_024
    kind_type = "application/x-msi" if windows else "application/gzip"
    return Artifact(f"/agent/{channel}/{name}", "agent", name, version, channel, size, kind_type)


def _truststore(version: str) -> Artifact:
    name = f"corp-truststore-{version}.p7b"
    return Artifact(
        f"/truststore/stable/{name}",
        "truststore",
        name,
        version,
        "stable",
        6_144 + len(version) * 64,
        "application/x-pkcs7-certificates",
    )


@dataclass
class _Planned:
    """Downloads gathered artifact by artifact, put in time order at the end."""

    artifacts: list[Artifact] = field(default_factory=list)
    moments: list[np.ndarray] = field(default_factory=list)
    owners: list[np.ndarray] = field(default_factory=list)
    which: list[np.ndarray] = field(default_factory=list)

    def add(self, artifact: Artifact, moments: np.ndarray, owners: np.ndarray) -> None:
        self.artifacts.append(artifact)
        self.moments.append(moments.astype(np.int64))
        self.owners.append(owners.astype(np.int32))
        self.which.append(np.full(len(moments), len(self.artifacts) - 1, np.int32))


def plan_downloads(
    rng: np.random.Generator, config: SimulationConfig, clients: Clients
) -> Downloads:
    agents = np.flatnonzero(clients.family == FAMILY["agent"])
    agent_row = np.full(len(clients), -1, np.int32)
    agent_row[agents] = np.arange(len(agents), dtype=np.int32)
    joined = config.start_us + clients.start_day[agents].astype(np.int64) * DAY_US
    adoption = _adoption(rng, config, len(agents), joined)
    planned = _Planned()
    windows = np.isin(clients.zone[agents], [ZONE["workstations"], ZONE["vpn"]])
    for v, (version, channel, _) in enumerate(AGENT_RELEASES):
        installed = (adoption[:, v] >= config.start_us) & (adoption[:, v] < config.end_us)
        for on_windows in (True, False):
            rows = np.flatnonzero(installed & (windows == on_windows))
            planned.add(
                _agent_artifact(version, channel, on_windows), adoption[rows, v], agents[rows]
            )
    _truststores(rng, config, agents, joined, planned)
    _documents(rng, config, clients, planned)
    moment = np.concatenate(planned.moments)
    order = np.argsort(moment, kind="stable")
    return Downloads(
        artifacts=planned.artifacts,
        moment=moment[order],
        client=np.concatenate(planned.owners)[order],
        artifact=np.concatenate(planned.which)[order],
        agent_versions=[v for v, _, _ in AGENT_RELEASES],
        agent_row=agent_row,
        adoption=adoption if len(agents) else np.zeros((1, len(AGENT_RELEASES)), np.int64),
    )


def _adoption(
    rng: np.random.Generator, config: SimulationConfig, agents: int, joined: np.ndarray
) -> np.ndarray:
    """``[agent, version]``: when each agent starts running each release (-NEVER: before
    the simulation, NEVER: not within it). Stable releases reach an agent after an
    exponential delay (laggards take eight times longer); the beta ring also takes beta
    releases, and sooner."""
    span = config.end_us - config.start_us
    released = np.array(
        [
            config.start_us + int(share * span) if share >= 0 else -NEVER
            for *_, share in AGENT_RELEASES
        ]
    )
    beta = np.array([channel == "beta" for _, channel, _ in AGENT_RELEASES])
    in_beta = rng.random(agents) < BETA_RING
    mean_days = np.where(in_beta, 0.5, 1.5) * np.where(rng.random(agents) < LAGGARDS, 8, 1)
    delays = rng.exponential(1.0, (agents, len(AGENT_RELEASES))) * mean_days[:, None] * DAY_US
    adoption = np.where(released[None, :] < 0, -NEVER, released[None, :] + delays.astype(np.int64))
    adoption[~in_beta[:, None] & beta[None, :]] = NEVER
    for row in np.flatnonzero(joined > config.start_us).tolist():
        # A new machine installs the latest stable release of the day it joins.
        current = max(
            (v for v in range(len(released)) if not beta[v] and released[v] <= joined[row]),
            key=lambda v: released[v],
        )
        adoption[row] = NEVER
        adoption[row, current] = joined[row] + int(rng.uniform(1, 6) * HOUR_US)
    # A later version adopted first makes the earlier one moot: never installed.
    later_first = np.minimum.accumulate(adoption[:, ::-1], axis=1)[:, ::-1]
    superseded = np.zeros_like(adoption, dtype=bool)
    superseded[:, :-1] = later_first[:, 1:] <= adoption[:, :-1]
    adoption[superseded] = NEVER
    return adoption


def _truststores(
    rng: np.random.Generator,
    config: SimulationConfig,
    agents: np.ndarray,
    joined: np.ndarray,
    planned: _Planned,
) -> None:
    """The current trust store (fetched by agents joining before the next one) and a
    new one released mid-window (fetched by every agent within days)."""
    span = config.end_us - config.start_us
    old_name = from_us(config.start_us) - timedelta(days=40)
    new_moment = config.start_us + int(0.45 * span)
    new_name = from_us(new_moment)
    joiners = np.flatnonzero((joined > config.start_us) & (joined < new_moment))
    planned.add(
        _truststore(f"{old_name.year}.{old_name.month:02d}"),
        joined[joiners] + 2 * HOUR_US,
        agents[joiners],
    )
    delay = (rng.exponential(1.0, len(agents)) * DAY_US).astype(np.int64)
    takes = np.maximum(joined, new_moment) + delay
    rows = np.flatnonzero(takes < config.end_us)
    planned.add(_truststore(f"{new_name.year}.{new_name.month:02d}"), takes[rows], agents[rows])


def _documents(
    rng: np.random.Generator, config: SimulationConfig, clients: Clients, planned: _Planned
) -> None:
    """Documents, now and then, read by people in office hours."""
    span = config.end_us - config.start_us
    readers = np.flatnonzero(clients.ordinary & (clients.rhythm == Rhythm.BUSINESS))
    for name, size in DOCUMENTS:
        kind = "application/pdf" if name.endswith(".pdf") else "text/html"
        artifact = Artifact(f"/docs/{name}", "doc", name, None, None, size, kind)
        if not len(readers):
            planned.add(artifact, np.zeros(0, np.int64), np.zeros(0, np.int32))
            continue
        count = int(rng.poisson(DOC_DOWNLOADS_PER_CLIENT_DAY * len(readers) * span / DAY_US))
        who = rng.choice(readers, size=count)
        days = rng.integers(0, max(1, span // DAY_US), count)
        when = times_in_day(rng, clients.rhythm[who], config.start_us + days * DAY_US)
        keep = (when < config.end_us) & (clients.start_day[who] <= days)
        planned.add(artifact, when[keep], who[keep])
