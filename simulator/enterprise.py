"""The whole simulated enterprise, planned before the first request is generated.

Each planning step draws from its own random stream (seed, step), so that adding a
draw to one step does not reshuffle every other one. What comes out is everything
the hourly generator and the writers need; nothing in it depends on the output mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.artifacts import Downloads, plan_downloads
from simulator.catalogue import Catalogue, der_lengths, inventory_catalogue
from simulator.churn import lifecycle_expected, plan_churn
from simulator.config import DAY_US, SimulationConfig, from_us
from simulator.delivery import OCSP_WINDOW_US, Caches, Crls, Delivery, UserAgents
from simulator.habits import Habits, choose_habits, fit_rates
from simulator.incidents import Plan, plan_incidents, plan_targets
from simulator.inventory import NEVER, Certificates, plan_certificates
from simulator.issuance import Issuance, plan_issuance
from simulator.pki import Authority, Hierarchy, build_hierarchy, crl_der
from simulator.population import Clients, Servers, make_clients, make_servers
from simulator.schedule import schedule
from simulator.traffic import HabitSampler, TrafficModel

_STREAMS = (
    "population",
    "habits",
    "targets",
    "inventory",
    "incidents",
    "schedule",
    "downloads",
    "issuance",
    "churn",
)


@dataclass
class Enterprise:
    config: SimulationConfig
    hierarchy: Hierarchy
    servers: Servers
    clients: Clients
    habits: Habits
    certificates: Certificates
    issuance: Issuance
    catalogue: Catalogue
    plan: Plan
    downloads: Downloads
    model: TrafficModel
    delivery: Delivery

    @property
    def foreign(self) -> list[Authority]:
        return self.plan.foreign


def _streams(seed: int) -> dict[str, np.random.Generator]:
    return {name: np.random.default_rng([seed, index]) for index, name in enumerate(_STREAMS)}


def build_enterprise(config: SimulationConfig) -> Enterprise:
    rng = _streams(config.seed)
    hierarchy = build_hierarchy(config.seed, config.start)
    taken: set[int] = set()
    servers = make_servers(rng["population"], config.servers, taken)
    clients = make_clients(rng["population"], config.clients, servers, taken, config.learning_days)
    habits = choose_habits(rng["habits"], clients, servers)
    staplers = np.flatnonzero(clients.stapler_of >= 0)
    overhead = len(staplers) * config.hours + len(servers) * (config.simulated_days - 1)
    fit_rates(
        habits, clients, servers, config, max(0.2 * config.requests, config.requests - overhead)
    )
    targets = plan_targets(rng["targets"], config, servers, clients, habits)
    certificates = plan_certificates(
        rng["inventory"],
        servers,
        config,
        replacements=targets.replacements,
        forgotten=targets.forgotten,
    )
    issuance = plan_issuance(rng["issuance"], servers, certificates, config, set(targets.forgotten))
    catalogue = inventory_catalogue(certificates, hierarchy.issuing)
    plan = plan_incidents(
        rng["incidents"],
        config,
        servers,
        clients,
        habits,
        certificates,
        catalogue,
        hierarchy,
        targets,
    )
    if config.churn:
        plan.benign += [
            (b.client, b.server)
            for b in plan_churn(
                rng["churn"],
                config,
                servers,
                clients,
                habits,
                certificates,
                issuance.issued_at_us,
                plan,
                plan.busy_clients,
                targets.reserved,
            )
        ]
    plan.expected += lifecycle_expected(
        config,
        certificates,
        issuance.issued_at_us,
        [authority.key_sha1 for authority in hierarchy.issuing],
        servers.host,
        plan.events,
    )
    scheduled = schedule(rng["schedule"], config, clients, len(servers), habits, plan.events)
    downloads = plan_downloads(rng["downloads"], config, clients)
    silent: dict[int, list[int]] = {}
    for server, day in plan.drops:
        silent.setdefault(day, []).append(server)
    arrays = catalogue.arrays()
    model = TrafficModel(
        config=config,
        clients=clients,
        habits=habits,
        sampler=HabitSampler(habits, clients, config),
        scheduled=scheduled,
        certificate_keys=certificates.lookup_keys(config.start_us),
        catalogue=arrays,
        staplers=staplers.astype(np.int32),
        silent={day: np.array(found, np.int32) for day, found in silent.items()},
    )
    fetchers = np.flatnonzero(clients.crl_fetcher & clients.ordinary)
    by_hour = [
        fetchers[(clients.phase_s[fetchers] // 3600) == hour].astype(np.int32) for hour in range(24)
    ]
    delivery = Delivery(
        config=config,
        clients=clients,
        certificates=certificates,
        catalogue=arrays,
        request_sizes=der_lengths(catalogue),
        user_agents=UserAgents.build(downloads.agent_agents()),
        downloads=downloads,
        crls=_crls(hierarchy, certificates, config),
        crl_fetchers_by_hour=by_hour,
        caches=Caches.empty(
            len(catalogue), len(hierarchy.issuing) + 1, len(downloads.artifacts), config.start_us
        ),
        entry_phase=np.random.default_rng([config.seed, 99]).integers(
            0, OCSP_WINDOW_US, len(catalogue)
        ),
    )
    return Enterprise(
        config,
        hierarchy,
        servers,
        clients,
        habits,
        certificates,
        issuance,
        catalogue,
        plan,
        downloads,
        model,
        delivery,
    )


def _crls(hierarchy: Hierarchy, certificates: Certificates, config: SimulationConfig) -> Crls:
    """Each CA's CRL, with sizes measured on real CRLs of zero and one entry."""
    authorities = [*hierarchy.issuing, hierarchy.root]
    moment = from_us(config.start_us)
    base, entry, revoked = [], [], []
    for index, authority in enumerate(authorities):
        empty = crl_der(
            authority,
            [],
            number=1_000,
            this_update=moment,
            next_update=from_us(config.start_us + DAY_US),
        )
        one = crl_der(
            authority,
            [(2**126 + 1, moment, "superseded")],
            number=1_000,
            this_update=moment,
            next_update=from_us(config.start_us + DAY_US),
        )
        base.append(len(empty))
        entry.append(len(one) - len(empty))
        mine = (certificates.ca == index) & (certificates.revoked_us != NEVER)
        mine &= index < len(hierarchy.issuing)
        revoked.append(np.sort(certificates.revoked_us[mine]))
    return Crls(
        slugs=[a.slug for a in authorities],
        issuer_key_sha1=[a.key_sha1 for a in authorities],
        revoked_us=revoked,
        base_bytes=np.array(base, np.int64),
        entry_bytes=np.array(entry, np.int64),
    )
