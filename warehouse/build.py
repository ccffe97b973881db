"""``certsight build``: LAKE -> dbt models and detectors -> the warehouse file, swapped in,
then the alerts delivered.

DuckDB lets no other process open a file while a writer holds it, so a build never writes
the warehouse readers use: it copies it (alerts and incremental tables included) into a
private build folder, builds there, and renames the result over the old file, durably
(``warehouse/swap.py``). Readers holding the old file keep reading it until they reopen;
nobody waits on a build and a failed build changes nothing.

Only then are alerts delivered, from the outbox (``warehouse/outbox.py``), a file of its
own: a sink backing off or failing delays no reader, a failed build sends nothing, and a
crash between the swap and the delivery loses nothing (the next run delivers it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from warehouse.address_aging import AddressAging, age_alerts, with_paired_days
from warehouse.alert import Alert
from warehouse.alert_rows import count_alerts, deliveries_before_outbox, read_alerts
from warehouse.dbt_runner import PROJECT_DIR, NodeCallback, run_dbt
from warehouse.lake_access import register_s3, s3fs_options
from warehouse.networks import Network
from warehouse.outbox import OUTBOX_FILE, Outbox, OutboxError
from warehouse.partitions import Partition, compare, list_partitions
from warehouse.reading import open_warehouse
from warehouse.swap import copy_aside, swap_in

log = logging.getLogger(__name__)

INCREMENTAL_TABLES = ("ocsp_requests", "crl_fetches", "artifact_downloads")
"""LAKE tables whose marts are built day by day; the others are small and rebuilt whole."""

FACT_TABLE = "fact_validation_daily"

DEFAULT_MEMORY_LIMIT = "6GB"
"""DuckDB's share of a build: with Python and dbt around it the build stays under 8 GiB;
larger aggregations spill next to the file being built (HOME/.warehouse/build/).
CERTSIGHT_DUCKDB_MEMORY_LIMIT overrides."""


@dataclass(frozen=True)
class Lake:
    """Where the LAKE is, for listing (a pyarrow file system) and for DuckDB (a URI)."""

    filesystem: pafs.FileSystem
    root: str  # path inside ``filesystem``
    uri_root: str  # what DuckDB reads: an absolute folder or s3://bucket/prefix
    is_s3: bool
    schemas: Mapping[str, pa.Schema]  # every LAKE table, for the ones not written yet


@dataclass(frozen=True)
class BuildOptions:
    warehouse: Path
    work_dir: Path
    networks: Sequence[Network] | None = None  # None keeps the table of the last build
    full_refresh: bool = False
    run_tests: bool = False
    learning_days: int = 7
    memory_limit: str | None = None
    threads: int | None = None
    # alerts past the client-address limit take pseudonyms, as the LAKE did
    address_aging: AddressAging | None = None


@dataclass
class BuildReport:
    mode: str  # full, incremental, unchanged
    changed: dict[str, tuple[date, ...]]
    nodes: int = 0
    seconds: float = 0.0
    alerts_total: int = 0
    new_alerts: list[Alert] = field(default_factory=list)
    delivery_errors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)
    # alerts sent again because an earlier run ended before recording their delivery
    resent: dict[str, int] = field(default_factory=dict)
    alerts_aged: int = 0  # given pseudonyms past the client-address limit, or merged


Deliver = Callable[[str, Sequence[Alert]], tuple[tuple[str, ...], tuple[str, ...]]]
"""Delivers alerts to one sink: returns the keys delivered and the error messages."""


@dataclass(frozen=True)
class _Staged:
    target: Path  # the private copy being built
    current: Mapping[tuple[str, date], Partition]
    changed: Mapping[str, tuple[date, ...]]
    full: bool
    up_to_date: bool


def build(
    lake: Lake,
    options: BuildOptions,
    *,
    sinks: Sequence[str] = (),
    deliver: Deliver | None = None,
    on_node: NodeCallback | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BuildReport:
    """Build (or bring up to date) the warehouse, swap the file in, then deliver to each
    of ``sinks`` the open alerts it has not acknowledged (all of them, not only this
    build's: those of a run that crashed or of a sink that was down are owed too)."""
    report = _build_and_swap(lake, options, on_node, clock)
    if deliver is not None and sinks:
        try:
            _deliver(options, sinks, deliver, report, clock)
        except OutboxError as exc:
            raise OutboxError(
                f"{exc}. {options.warehouse} was built and swapped in; its alerts stay owed "
                "and are delivered by the first run that can use the outbox"
            ) from exc
    return report


def _build_and_swap(
    lake: Lake,
    options: BuildOptions,
    on_node: NodeCallback | None,
    clock: Callable[[], datetime],
) -> BuildReport:
    started = time.monotonic()
    current = list_partitions(lake.filesystem, lake.root, lake.schemas)
    open_alerts = _nothing_to_do(current, options)
    if open_alerts is not None:
        # the common case of a build every minute: no copy, no dbt, nothing written
        return BuildReport(
            mode="unchanged",
            changed={},
            alerts_total=open_alerts,
            seconds=time.monotonic() - started,
        )
    build_dir = options.work_dir / "build"
    try:
        staged = _stage(lake, options, current, build_dir)
        return _finish(lake, options, staged, started, on_node, clock)
    finally:
        # a failed build leaves the previous warehouse as it was, and no half-built copy
        shutil.rmtree(build_dir, ignore_errors=True)


def _finish(
    lake: Lake,
    options: BuildOptions,
    staged: _Staged,
    started: float,
    on_node: NodeCallback | None,
    clock: Callable[[], datetime],
) -> BuildReport:
    report = BuildReport(
        mode="full" if staged.full else "incremental", changed=dict(staged.changed)
    )
    if staged.up_to_date:
        report.mode = "unchanged"
    else:
        command = ["build" if options.run_tests else "run"]
        if staged.full:
            command.append("--full-refresh")
        report.nodes = run_dbt(
            command,
            profiles_dir=_write_profile(options, staged.target, lake),
            work_dir=options.work_dir,
            variables=json.dumps({"learning_days": options.learning_days}),
            on_node=on_node,
        ).nodes
    with duckdb.connect(str(staged.target)) as con:
        if options.address_aging is not None:
            report.alerts_aged = age_alerts(con, options.address_aging)
        _remember_partitions(con, staged.current)
        report.alerts_total = count_alerts(con).get("open", 0)
        report.seconds = time.monotonic() - started
        _record_build(con, report, options, clock())
        con.execute("checkpoint")
    swap_in(staged.target, options.warehouse)
    return report


def _nothing_to_do(
    current: Mapping[tuple[str, date], Partition], options: BuildOptions
) -> int | None:
    """The open alerts when the last build saw this LAKE, these settings and network table
    (judged on the live warehouse, read-only); else None. Alerts owed to a sink are no
    reason to build: delivery reads the outbox, whether or not a build ran."""
    if options.full_refresh or options.run_tests or not options.warehouse.exists():
        return None
    con = duckdb.connect(str(options.warehouse), read_only=True)
    try:
        if not (_has_table(con, "reference", "builds") and _has_table(con, "main", FACT_TABLE)):
            return None
        if compare(current, _seen_partitions(con)).any:
            return None
        if _last_learning_days(con) != options.learning_days:
            return None
        if _last_project_digest(con) != project_digest():
            return None
        if options.networks is not None and _stored_networks(con) != _network_rows(
            options.networks
        ):
            return None
        return count_alerts(con).get("open", 0)
    finally:
        con.close()


def _stage(
    lake: Lake,
    options: BuildOptions,
    current: Mapping[tuple[str, date], Partition],
    build_dir: Path,
) -> _Staged:
    """Copy the warehouse aside and tell the models what changed in the LAKE."""
    shutil.rmtree(build_dir, ignore_errors=True)
    build_dir.mkdir(parents=True)
    # Same file name as the warehouse: DuckDB names the catalog after the file, and the
    # views refer to it, so they must survive the rename.
    target = build_dir / options.warehouse.name
    if options.warehouse.exists():
        copy_aside(options.warehouse, target)
    with duckdb.connect(str(target)) as con:
        _prepare(con, options)
        changes = compare(current, _seen_partitions(con))
        full = (
            options.full_refresh
            or not _has_table(con, "main", FACT_TABLE)
            or any(changes.vanished.values())
        )
        networks_changed = options.networks is not None and _replace_networks(con, options.networks)
        settings_changed = (
            _last_learning_days(con) != options.learning_days
            or _last_project_digest(con) != project_digest()
        )
        scope = {t: d for t, d in changes.changed.items() if t in INCREMENTAL_TABLES}
        if options.address_aging is not None:
            scope = with_paired_days(scope, options.address_aging.before.date())
        _write_scope(con, scope)
        if lake.is_s3:
            register_s3(con)
        _create_lake_views(con, _lake_locations(lake, current, options.work_dir))
    up_to_date = not (
        full or changes.any or networks_changed or settings_changed or options.run_tests
    )
    return _Staged(target, current, changes.changed, full, up_to_date)


def _deliver(
    options: BuildOptions,
    sinks: Sequence[str],
    deliver: Deliver,
    report: BuildReport,
    clock: Callable[[], datetime],
) -> None:
    """Owe each sink the live warehouse's open alerts it has not had, then hand each sink
    what it is owed, attempt by attempt, recording what it took as soon as it returns."""
    with open_warehouse(options.warehouse) as con:  # read, and closed before any sending
        alerts = [alert for alert, _ in read_alerts(con)]
    alerts.sort(key=lambda alert: (alert.first_seen, alert.key))

    def legacy() -> list[tuple[str, str, datetime]]:
        with open_warehouse(options.warehouse) as con:
            return deliveries_before_outbox(con)

    with Outbox.open(options.work_dir / OUTBOX_FILE, legacy=legacy) as outbox:
        problems = outbox.enqueue(sinks, alerts, clock())
        for sink in sinks:
            errors = list(problems)
            for attempt in outbox.claim(sink):
                if attempt.repeat:
                    log.warning(
                        "alert delivery to %s: sending attempt %d (%d alerts) again: an "
                        "earlier run ended before recording whether it arrived",
                        sink,
                        attempt.number,
                        len(attempt.alerts),
                    )
                delivered, failed = deliver(sink, attempt.alerts)
                outbox.acknowledge(sink, delivered, clock())
                errors.extend(failed)
                arrived = set(delivered)
                if arrived:
                    report.delivered[sink] = report.delivered.get(sink, 0) + len(arrived)
                    report.new_alerts.extend(a for a in attempt.alerts if a.key in arrived)
                if attempt.repeat:
                    report.resent[sink] = report.resent.get(sink, 0) + len(attempt.alerts)
            if errors:
                report.delivery_errors[sink] = tuple(errors)


@functools.cache  # the project's files do not change under a running process
def project_digest() -> str:
    """A fingerprint of the dbt project (models, macros, tests, settings): a warehouse
    built by other models is out of date even when the LAKE has not changed, so an
    upgrade takes effect on the next build rather than with the next day of data."""
    digest = hashlib.sha256()
    for path in sorted(PROJECT_DIR.rglob("*")):
        if path.suffix in {".sql", ".yml", ".yaml"} and "target" not in path.parts:
            digest.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _last_project_digest(con: duckdb.DuckDBPyConnection) -> str | None:
    try:
        found = con.execute(
            "select project_digest from reference.builds order by finished_at desc limit 1"
        ).fetchone()
    except duckdb.BinderException:  # a warehouse from before the column, opened read-only
        return None
    return str(found[0]) if found and found[0] is not None else None


def _last_learning_days(con: duckdb.DuckDBPyConnection) -> int | None:
    found = con.execute(
        "select learning_days from reference.builds order by finished_at desc limit 1"
    ).fetchone()
    return int(found[0]) if found and found[0] is not None else None


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(found and found[0])


def _prepare(con: duckdb.DuckDBPyConnection, options: BuildOptions) -> None:
    con.execute("create schema if not exists reference")
    con.execute(
        "create table if not exists reference.lake_partitions ("
        " table_name varchar not null, dt date not null, fingerprint varchar not null,"
        " files integer not null, primary key (table_name, dt))"
    )
    con.execute(
        "create table if not exists reference.networks ("
        " cidr varchar not null primary key, zone varchar not null, site varchar,"
        " owner varchar, prefix_length integer not null, range_start varchar not null,"
        " range_end varchar not null)"
    )
    con.execute(
        "create table if not exists reference.builds ("
        " finished_at timestamptz not null, mode varchar not null, changed_days integer,"
        " nodes integer, alerts integer, seconds double, learning_days integer)"
    )
    # Added after the first release: warehouses built before it gain the column empty.
    con.execute("alter table reference.builds add column if not exists project_digest varchar")
    con.execute("create or replace table reference.build_scope (table_name varchar, dt date)")
    if options.full_refresh:
        con.execute("delete from reference.lake_partitions")


def _seen_partitions(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, date], str]:
    rows = con.execute(
        "select table_name, dt, fingerprint from reference.lake_partitions"
    ).fetchall()
    return {(table, day): fingerprint for table, day, fingerprint in rows}


def _network_rows(networks: Sequence[Network]) -> list[tuple[object, ...]]:
    return sorted(
        (n.cidr, n.zone, n.site, n.owner, n.prefix_length, n.range_start, n.range_end)
        for n in networks
    )


def _stored_networks(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    rows = con.execute("select * from reference.networks order by cidr").fetchall()
    return [tuple(row) for row in rows]


def _replace_networks(con: duckdb.DuckDBPyConnection, networks: Sequence[Network]) -> bool:
    """Load the network table; True when it differs from the last build's."""
    rows = _network_rows(networks)
    if _stored_networks(con) == rows:
        return False
    con.execute("delete from reference.networks")
    if rows:
        con.executemany("insert into reference.networks values (?, ?, ?, ?, ?, ?, ?)", rows)
    return True


def _write_scope(con: duckdb.DuckDBPyConnection, scope: Mapping[str, tuple[date, ...]]) -> None:
    rows = [(table, day) for table, days in scope.items() for day in days]
    if rows:
        con.executemany("insert into reference.build_scope values (?, ?)", rows)


def _remember_partitions(
    con: duckdb.DuckDBPyConnection, current: Mapping[tuple[str, date], Partition]
) -> None:
    con.execute("delete from reference.lake_partitions")
    rows = [(table, day, p.fingerprint, p.files) for (table, day), p in current.items()]
    if rows:
        con.executemany("insert into reference.lake_partitions values (?, ?, ?, ?)", rows)


def _record_build(
    con: duckdb.DuckDBPyConnection, report: BuildReport, options: BuildOptions, at: datetime
) -> None:
    con.execute(
        "insert into reference.builds values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            at,
            report.mode,
            sum(len(d) for d in report.changed.values()),
            report.nodes,
            report.alerts_total,
            round(report.seconds, 3),
            options.learning_days,
            project_digest(),
        ],
    )


def _create_lake_views(con: duckdb.DuckDBPyConnection, locations: Mapping[str, str]) -> None:
    """Schema ``lake``: one view per LAKE table, what the dbt sources and analysts read.
    Readers learn from these views which folders their sandbox may reach
    (``warehouse.lake_access.lake_scans``)."""
    con.execute("create schema if not exists lake")
    for table, scan in locations.items():
        # table names come from the LAKE schema, paths are quoted by _lake_locations
        con.execute(f'create or replace view lake."{table}" as select * from {scan}')  # noqa: S608


def _lake_locations(
    lake: Lake, current: Mapping[tuple[str, date], Partition], work_dir: Path
) -> dict[str, str]:
    """A ``read_parquet`` per table; a table the ingest has not written yet reads an empty
    file of its schema, so that every model runs on a young LAKE."""
    present = {table for table, _ in current}
    locations = {}
    for table, schema in lake.schemas.items():
        if table in present:
            pattern = f"{lake.uri_root.rstrip('/')}/{table}/dt=*/*.parquet"
        else:
            pattern = str(_empty_table(work_dir, table, schema))
        quoted = pattern.replace("'", "''")
        locations[table] = (
            f"read_parquet('{quoted}', hive_partitioning = true, hive_types = {{'dt': 'DATE'}})"
        )
    return locations


def _empty_table(work_dir: Path, table: str, schema: pa.Schema) -> Path:
    path = work_dir / "empty" / table / "dt=1970-01-01" / "empty.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(schema.empty_table(), path)
    return path


def _write_profile(options: BuildOptions, target: Path, lake: Lake) -> Path:
    return write_profile_for(
        target,
        options.work_dir,
        s3=lake.is_s3,
        memory_limit=options.memory_limit,
        threads=options.threads,
    )


def write_profile_for(
    target: Path,
    work_dir: Path,
    *,
    s3: bool = False,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> Path:
    """profiles.yml for dbt on ``target``. Credentials are never written: DuckDB's S3 access
    goes through s3fs, which reads them from the standard AWS settings like every other part."""
    # Large aggregations spill to DuckDB's default temporary folder, next to the file being
    # built. (Not set here: dbt-duckdb sets these on every cursor, and DuckDB refuses to
    # move a temporary folder it has used.)
    settings: dict[str, object] = {
        "TimeZone": "UTC",
        "memory_limit": memory_limit or DEFAULT_MEMORY_LIMIT,
        # the models sort what needs sorting; keeping input order costs memory on big inserts
        "preserve_insertion_order": False,
    }
    if threads:
        settings["threads"] = threads
    output: dict[str, object] = {
        "type": "duckdb",
        "path": str(target),
        "schema": "main",
        "threads": 1,
        "settings": settings,
        "plugins": [{"module": "warehouse.udfs"}],
    }
    if s3:
        output["filesystems"] = [{"fs": "s3", **s3fs_options()}]
    profile = {"certsight": {"target": "build", "outputs": {"build": output}}}
    folder = work_dir / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    # JSON is YAML: no YAML writer needed
    (folder / "profiles.yml").write_text(json.dumps(profile, indent=2))
    return folder
