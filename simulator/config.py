"""What a simulation is asked for, checked once, with the sizes it implies.

Sizes not given explicitly follow from the request budget, so that ``--requests``
alone gives a plausible enterprise: about fourteen OCSP requests per client and
day (clients cache answers), six clients per server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
REQUESTS_PER_CLIENT_DAY = 14
CLIENTS_PER_SERVER = 6
MIN_SERVERS = 20  # below this, incidents cannot each have a server of their own
DEFAULT_MIN_SERVERS = 60  # enough for a scan of 40 servers next to the other incidents
MIN_CLIENTS = 30


class ConfigError(ValueError):
    """Arguments that cannot make a simulation; the message says which and why."""


@dataclass(frozen=True)
class SimulationConfig:
    seed: int
    end: datetime  # exclusive, UTC, a whole hour
    days: int
    requests: int
    clients: int
    servers: int
    learning_days: int
    incidents: int  # per detector
    # Ordinary enterprise churn on top of the incidents (simulator/churn.py): new pairs
    # the client's zone peers already use, late and partial deployments of renewals.
    churn: bool = False

    @property
    def start(self) -> datetime:
        """Midnight ``days`` days before the day of ``end``: every simulated day but the
        last starts at midnight, so "a full UTC day" means the same to everyone."""
        midnight = self.end.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight - timedelta(days=self.days)

    @property
    def start_us(self) -> int:
        return to_us(self.start)

    @property
    def end_us(self) -> int:
        return to_us(self.end)

    @property
    def hours(self) -> int:
        return (self.end_us - self.start_us) // HOUR_US

    @property
    def simulated_days(self) -> int:
        """Calendar days touched, the last one possibly partial."""
        return -(-(self.end_us - self.start_us) // DAY_US)

    @property
    def incident_days(self) -> range:
        """Complete days after the learning period, the last simulated day excluded."""
        complete = (self.end_us - self.start_us) // DAY_US
        last_allowed = min(complete, self.simulated_days - 1) - 1
        return range(self.learning_days, last_allowed + 1)


def to_us(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def from_us(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)


def iso(micros: int) -> str:
    """The LAKE's spelling of a time: UTC, microseconds, ``Z``."""
    return from_us(micros).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_config(
    *,
    seed: int,
    end: datetime,
    days: int,
    requests: int,
    clients: int | None,
    servers: int | None,
    learning_days: int,
    incidents: int,
    churn: bool = False,
) -> SimulationConfig:
    """Check the arguments together (each alone is checked by the CLI's types)."""
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    end = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if days < 1:
        raise ConfigError("--days must be at least 1")
    if learning_days < 1:
        raise ConfigError("--learning-days must be at least 1")
    if requests < 1000:
        raise ConfigError("--requests must be at least 1000")
    if incidents < 0:
        raise ConfigError("--incidents cannot be negative")
    per_day = requests / days
    chosen_clients = clients or int(
        min(250_000, max(MIN_CLIENTS, per_day / REQUESTS_PER_CLIENT_DAY))
    )
    chosen_servers = servers or int(
        min(25_000, max(DEFAULT_MIN_SERVERS, chosen_clients / CLIENTS_PER_SERVER))
    )
    if chosen_clients < 10:
        raise ConfigError("--clients must be at least 10")
    if chosen_servers < 10:
        raise ConfigError("--servers must be at least 10")
    config = SimulationConfig(
        seed=seed,
        end=end,
        days=days,
        requests=requests,
        clients=chosen_clients,
        servers=chosen_servers,
        learning_days=learning_days,
        incidents=incidents,
        churn=churn,
    )
    if incidents and len(config.incident_days) < 1:
        raise ConfigError(
            f"incidents need a complete day after the {learning_days}-day learning period "
            f"that is not the last simulated day: use --days {learning_days + 2} or more "
            "(or --incidents 0)"
        )
    if incidents and chosen_servers < MIN_SERVERS:
        raise ConfigError(f"incidents need at least {MIN_SERVERS} servers")
    return config
