"""One simulation from plan to files: the enterprise, every hour's traffic, the truth.

The loop is the same for both output modes; only the writer differs. The truth is
written last, once the traffic has shown when each incident was visible.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest.lake import Lake
from ingest.locking import lake_lock
from simulator.config import HOUR_US, SimulationConfig, iso
from simulator.delivery import CrlHour, DownloadHour, OcspHour
from simulator.enterprise import Enterprise, build_enterprise
from simulator.lake_output import LakeWriter, hour_tables, lookups_for, write_inventory
from simulator.layout import LAKE_PREFIX, HourObjects, hour_objects
from simulator.network import networks_csv
from simulator.raw_output import RawWriter, write_atomically
from simulator.truth import TruthTracker, truth_document

TRUTH = Path("simulation") / "truth.json"
NETWORKS = Path("networks.csv")


class SimulationExistsError(FileExistsError):
    """The home already holds a simulation: mixing two would make the truth wrong."""


@dataclass
class Progress:
    hours_done: int = 0
    requests: int = 0
    rows: int = 0


@dataclass
class Summary:
    config: SimulationConfig
    mode: str
    output: str
    truth: Path
    networks: Path
    requests: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    incidents: dict[str, int] = field(default_factory=dict)
    clients: int = 0
    servers: int = 0
    certificates: int = 0
    seconds: float = 0.0


def run_simulation(
    config: SimulationConfig,
    home: Path,
    *,
    mode: str,
    lake_uri: str | None = None,
    on_hour: Callable[[Progress], None] | None = None,
) -> Summary:
    truth_path, networks_path = home / TRUTH, home / NETWORKS
    if truth_path.exists():
        raise SimulationExistsError(
            f"{home} already holds a simulation ({truth_path}); use another --home"
        )
    started = time.perf_counter()
    enterprise = build_enterprise(config)
    tracker = TruthTracker(enterprise.plan.expected, len(enterprise.servers))
    progress = Progress()
    if mode == "raw":
        output = str(home / "raw")
        _raw(enterprise, home / "raw", tracker, progress, on_hour)
        rows: dict[str, int] = {}
    else:
        lake = Lake.at(lake_uri or str(home / "lake"))
        output = lake.uri
        rows = _lake(enterprise, lake, tracker, progress, on_hour)
    write_atomically(networks_path, networks_csv().encode())
    document = truth_document(
        config,
        tracker.expected,
        enterprise.clients.ip,
        enterprise.servers.host,
        enterprise.plan.benign,
    )
    write_atomically(truth_path, json.dumps(document, indent=1).encode() + b"\n")
    counts: dict[str, int] = {}
    for incident in document["incidents"]:
        counts[incident["detector"]] = counts.get(incident["detector"], 0) + 1
    return Summary(
        config=config,
        mode=mode,
        output=output,
        truth=truth_path,
        networks=networks_path,
        requests=progress.requests,
        rows=rows,
        incidents=counts,
        clients=int(enterprise.clients.ordinary.sum()),
        servers=len(enterprise.servers),
        certificates=len(enterprise.certificates),
        seconds=time.perf_counter() - started,
    )


def _hours(
    enterprise: Enterprise, tracker: TruthTracker, progress: Progress
) -> Iterator[tuple[HourObjects, OcspHour, CrlHour, DownloadHour]]:
    """Each hour's objects and traffic, once the tracker has seen it."""
    config = enterprise.config
    for hour in range(config.hours):
        requests = enterprise.model.hour(hour)
        rng = enterprise.delivery.rng(hour)
        ocsp = enterprise.delivery.ocsp(requests, rng)
        crl = enterprise.delivery.crl(hour, rng)
        files = enterprise.delivery.files(hour, rng)
        tracker.observe(
            requests.moment, requests.client, requests.server, requests.entry, requests.cert
        )
        progress.requests += len(requests)
        yield hour_objects(config.seed, config.start_us + hour * HOUR_US), ocsp, crl, files


def _raw(
    enterprise: Enterprise,
    raw: Path,
    tracker: TruthTracker,
    progress: Progress,
    on_hour: Callable[[Progress], None] | None,
) -> None:
    writer = RawWriter(enterprise, raw)
    writer.write_inventory()
    for objects, ocsp, crl, files in _hours(enterprise, tracker, progress):
        writer.write_hour(objects, ocsp, crl, files)
        progress.hours_done += 1
        progress.rows += len(ocsp) + int(ocsp.at_origin.sum()) + len(crl) + len(files)
        if on_hour is not None:
            on_hour(progress)


def _lake(
    enterprise: Enterprise,
    lake: Lake,
    tracker: TruthTracker,
    progress: Progress,
    on_hour: Callable[[Progress], None] | None,
) -> dict[str, int]:
    lookups = lookups_for(enterprise)
    with lake_lock(lake):
        lake.recover()
        writer = LakeWriter(lake, datetime.now(UTC))
        try:
            write_inventory(writer, enterprise)
            for objects, ocsp, crl, files in _hours(enterprise, tracker, progress):
                tables = hour_tables(objects, ocsp, crl, files, lookups, LAKE_PREFIX)
                for name, source, table in tables:
                    writer.append(name, source, table)
                progress.hours_done += 1
                progress.rows += sum(t.num_rows for _, _, t in tables)
                if on_hour is not None:
                    on_hour(progress)
        except BaseException:
            writer.abandon()
            raise
        config = enterprise.config
        writer.finish(
            {
                "key": f"simulate:seed={config.seed}:{iso(config.start_us)}/{iso(config.end_us)}",
                "uri": f"{LAKE_PREFIX}seed={config.seed}",
                "size": 0,
                "version": writer.run_id,
                "format": "simulate",
                "records_read": progress.requests,
                "records_written": progress.requests,
                "quarantined": 0,
                "rows": dict(writer.rows),
            }
        )
    return dict(writer.rows)
