"""A live simulated enterprise for ``certsight run``: real certificates from the home's CA,
and a population of clients sending real OCSP and CRL requests to the running responder
(docs/simulate.md, "Live traffic under ``certsight run``")."""

from simulator.live.enterprise import (
    LiveClient,
    LiveEnterprise,
    LiveServer,
    prepare_live_enterprise,
)
from simulator.live.population import LivePopulation, LiveStats

__all__ = [
    "LiveClient",
    "LiveEnterprise",
    "LivePopulation",
    "LiveServer",
    "LiveStats",
    "prepare_live_enterprise",
]
