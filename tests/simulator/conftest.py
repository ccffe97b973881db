"""One small simulated enterprise, written both ways, shared by the simulate tests.

Small enough to make and ingest in a few seconds (nine days, 70 servers, 250
clients, two incidents per detector), large enough for every incident to fit: a
scan needs 40 servers of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingest.lake import Lake
from ingest.run import IngestReport, ingest
from ingest.sources import find_sources
from simulator.config import SimulationConfig, make_config
from simulator.run import Summary, run_simulation

END = datetime(2026, 11, 28, tzinfo=UTC)
LAKE_TABLES = (
    "ocsp_requests",
    "crl_fetches",
    "artifact_downloads",
    "certificates",
    "issuers",
    "revocations",
)


def small_config(seed: int = 7, **changes: Any) -> SimulationConfig:
    options: dict[str, Any] = {
        "seed": seed,
        "end": END,
        "days": 9,
        "requests": 30_000,
        "clients": 250,
        "servers": 70,
        "learning_days": 4,
        "incidents": 2,
    }
    options.update(changes)
    return make_config(**options)


@dataclass
class Simulated:
    home: Path
    summary: Summary
    truth: dict[str, Any]

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    def incidents(self, detector: str) -> list[dict[str, Any]]:
        return [i for i in self.truth["incidents"] if i["detector"] == detector]


def simulate(home: Path, mode: str, config: SimulationConfig | None = None) -> Simulated:
    summary = run_simulation(config or small_config(), home, mode=mode)
    return Simulated(home, summary, json.loads(summary.truth.read_text()))


def connect(lake: Path) -> duckdb.DuckDBPyConnection:
    """DuckDB over the LAKE as readers see it, plus ``validations``: every row naming a
    CertID, resolved to its issuer and certificate (the warehouse's first step)."""
    con = duckdb.connect()
    for table in LAKE_TABLES:
        con.execute(
            f"create view {table} as select * from read_parquet("
            f"'{lake}/{table}/**/*.parquet', hive_partitioning = true)"
        )
    con.execute(
        """
        create view validations as
        select o.*, coalesce(i1.issuer_key_sha1, i2.issuer_key_sha1) as resolved_issuer,
               c.sans[1] as server, c.sans as sans, c.not_after, r.revoked_at,
               coalesce(o.cf_request_id, o.request_id) as request
        from ocsp_requests o
        left join issuers i1 on o.hash_algorithm = 'sha1'
            and o.issuer_name_hash = i1.name_sha1 and o.issuer_key_hash = i1.issuer_key_sha1
        left join issuers i2 on o.hash_algorithm = 'sha256'
            and o.issuer_name_hash = i2.name_sha256 and o.issuer_key_hash = i2.key_sha256
        left join certificates c on c.issuer_key_sha1 = coalesce(i1.issuer_key_sha1,
            i2.issuer_key_sha1) and c.serial = o.serial
        left join revocations r on r.issuer_key_sha1 = c.issuer_key_sha1 and r.serial = c.serial
        where o.serial is not null
        """
    )
    return con


@pytest.fixture(scope="session")
def lake_run(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    """The small enterprise written straight into a LAKE."""
    return simulate(tmp_path_factory.mktemp("lake-mode"), "lake")


@dataclass
class RawRun(Simulated):
    report: IngestReport | None = None


@pytest.fixture(scope="session")
def raw_run(tmp_path_factory: pytest.TempPathFactory) -> RawRun:
    """The same enterprise written as RAW, then read by the real ingest."""
    simulated = simulate(tmp_path_factory.mktemp("raw-mode"), "raw")
    report = ingest(
        find_sources([str(simulated.home / "raw")]),
        Lake.at(str(simulated.lake)),
        lambda: datetime.now(UTC),
    )
    return RawRun(simulated.home, simulated.summary, simulated.truth, report)


@pytest.fixture
def lake_db(lake_run: Simulated) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(lake_run.lake)
    yield con
    con.close()
