"""Who asked for each certificate, with which profile, and when certsight issued it.

The enterprise issues its server certificates with ``certsight issue``, mostly through
automation: each server has one way of getting its certificates, drawn once (seeded)
-- about 70 % ``acme:cert-manager``, 10 % ``api:deploy-pipeline``, 5 %
``agent:certsight-agent`` and 15 % a person's login. Short-lived certificates (30 and
47 days, profile ``tls-server-short``) are nearly always automated; 200-day ones and
OT servers are more often renewed by hand, and a forgotten server always was. About a
third of the servers renewed by hand move to automation at a moment inside the window:
their certificates issued after it name the automation, so the weekly automation rate
rises a little.

As ``certsight issue`` does, a certificate's notBefore is backdated five minutes
before its issuance (``issued_at``, with microseconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pki.certificates import PROFILE_TLS
from simulator.config import DAY_US, SimulationConfig
from simulator.inventory import Certificates
from simulator.population import ZONE, Servers

PROFILE_SHORT = "tls-server-short"  # the 30- and 47-day profiles
SHORT_DAYS = 47
CA_BACKEND = "internal"
BACKDATE_US = 5 * 60 * 1_000_000  # notBefore = issuance - 5 minutes, as certsight issues
AUTOMATION = (
    ("acme:cert-manager", 70.0),
    ("api:deploy-pipeline", 10.0),
    ("agent:certsight-agent", 5.0),
)
PEOPLE = (
    "jdupont", "amartin", "lbernard", "sthomas", "cpetit", "nrobert",
    "prichard", "mdurand", "vleroy", "emoreau", "fsimon", "glaurent",
)  # fmt: skip
# Share of servers renewed by hand: OT most, then long-lived profiles; about 15 % in all.
MANUAL_OT = 0.40
MANUAL_BY_DAYS = ((SHORT_DAYS, 0.02), (90, 0.15))
MANUAL_LONG = 0.25
MIGRATING = 0.35  # of the servers renewed by hand: automated from a moment in the window


@dataclass(frozen=True)
class Issuance:
    """Per certificate (inventory order): its ``issued`` event."""

    requester: list[str]
    profile: list[str]
    issued_at_us: np.ndarray  # int64

    def order(self) -> np.ndarray:
        """Certificate indices in order of issuance."""
        found: np.ndarray = np.argsort(self.issued_at_us, kind="stable")
        return found


def _manual_share(servers: Servers) -> np.ndarray:
    days = servers.validity_days
    share = np.full(len(servers), MANUAL_LONG)
    for limit, value in reversed(MANUAL_BY_DAYS):
        share[days <= limit] = value
    share[servers.zone == ZONE["ot"]] = MANUAL_OT
    return share


def plan_issuance(
    rng: np.random.Generator,
    servers: Servers,
    certificates: Certificates,
    config: SimulationConfig,
    forgotten: set[int],
) -> Issuance:
    count = len(servers)
    # Every draw is made for every server, so that a share changed here reshuffles nothing.
    weights = np.array([w for _, w in AUTOMATION])
    automation = rng.choice(len(AUTOMATION), size=count, p=weights / weights.sum())
    person = rng.integers(0, len(PEOPLE), count)
    manual = rng.random(count) < _manual_share(servers)
    migrating = rng.random(count) < MIGRATING
    span = config.end_us - config.start_us
    automated_from = config.start_us + (rng.uniform(0.2, 0.8, count) * span).astype(np.int64)
    for lost in forgotten:
        manual[lost], migrating[lost] = True, False
    automated_from = np.where(manual & migrating, automated_from, np.iinfo(np.int64).max)
    automated_from[~manual] = np.iinfo(np.int64).min

    fraction = rng.integers(0, 1_000_000, len(certificates))
    not_before, not_after = certificates.not_before_us, certificates.not_after_us
    issued = not_before + BACKDATE_US + fraction
    issued = np.where(issued < config.end_us, issued, not_before + fraction)  # never after the end
    short = (not_after - not_before) <= SHORT_DAYS * DAY_US
    owner = certificates.server
    labels = [*(name for name, _ in AUTOMATION), *PEOPLE]
    chosen = np.where(
        issued >= automated_from[owner], automation[owner], len(AUTOMATION) + person[owner]
    )
    return Issuance(
        requester=[labels[i] for i in chosen.tolist()],
        profile=[PROFILE_SHORT if s else PROFILE_TLS for s in short.tolist()],
        issued_at_us=issued.astype(np.int64),
    )
