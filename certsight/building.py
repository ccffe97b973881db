"""``certsight build``: the CLI's side of a warehouse build (locations, progress, summary)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from certsight.retaining import aging_for
from certsight.settings import CertsightSettings, Home
from ingest.locking import exclusive
from ingest.schema import TABLES
from ingest.storage import location
from warehouse.alert import Alert
from warehouse.build import BuildOptions, BuildReport, Lake, build
from warehouse.delivery import deliver_all, load_sinks
from warehouse.networks import Network, read_networks

NETWORKS_FILE = "networks.csv"


def lake_at(uri: str) -> Lake:
    where = location(uri)
    uri_root = f"s3://{where.root}" if where.is_s3 else where.root
    schemas = {name: table.schema for name, table in TABLES.items()}
    return Lake(where.filesystem, where.root, uri_root, where.is_s3, schemas)


def networks_for(home: Home, networks_csv: Path | None) -> list[Network] | None:
    """``--networks`` if given, else HOME/networks.csv if present, else keep the last build's."""
    chosen = networks_csv or (home.root / NETWORKS_FILE)
    if networks_csv is None and not chosen.exists():
        return None
    return read_networks(chosen)


def run_build(
    home: Home,
    *,
    lake_uri: str | None = None,
    networks_csv: Path | None = None,
    full_refresh: bool = False,
    run_tests: bool = False,
    learning_days: int = 7,
    console: Console | None = None,
) -> BuildReport:
    console = console or Console(stderr=True)
    settings = CertsightSettings.load(home)  # a bad setting stops the build before it starts
    lake = lake_at(lake_uri or str(home.lake))
    networks = networks_for(home, networks_csv)
    context = settings.destination_context(home)
    sinks = {sink.name: sink for sink in load_sinks(settings.alerts, context)}
    work_dir = home.root / ".warehouse"
    options = BuildOptions(
        warehouse=home.warehouse,
        work_dir=work_dir,
        networks=networks,
        full_refresh=full_refresh,
        run_tests=run_tests,
        learning_days=learning_days,
        memory_limit=settings.environment.duckdb_memory_limit,
        address_aging=aging_for(home, settings, lake_uri),
    )

    def deliver(sink: str, alerts: Sequence[Alert]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        outcome = deliver_all(alerts, [sinks[sink]]).outcome(sink)
        # alerts below a sink's min_severity are settled too, at their severity now: nothing
        # is owed to retry, and the outbox owes them again if they escalate (warehouse/outbox.py)
        return (*outcome.delivered, *outcome.skipped), tuple(outcome.errors)

    with (
        exclusive(work_dir),
        Progress(
            SpinnerColumn(),
            TextColumn("build {task.completed}/{task.total} {task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        # tests are nodes too: with --test the count is open-ended
        task = progress.add_task("", total=None if run_tests else _model_count())

        def on_node(event: str, node: str) -> None:
            if event == "start":
                progress.update(task, description=node)
            else:
                progress.advance(task)

        return build(lake, options, sinks=list(sinks), deliver=deliver, on_node=on_node)


def _model_count() -> int:
    from warehouse.dbt_runner import PROJECT_DIR

    return sum(1 for _ in (PROJECT_DIR / "models").rglob("*.sql"))


def summary(report: BuildReport) -> str:
    changed = sum(len(days) for days in report.changed.values())
    if report.mode == "unchanged":
        head = "warehouse up to date: no LAKE day changed"
    else:
        head = f"{report.mode} build: {report.nodes} nodes, {changed} changed LAKE day(s)"
    parts = [f"{head} in {report.seconds:.1f} s; {report.alerts_total} alert(s)"]
    if report.mode == "full" and not report.changed:
        parts.append(
            "the LAKE holds no data yet: run `certsight ingest` (or `certsight simulate` for a "
            "synthetic enterprise), then build again"
        )
    if report.alerts_aged:
        parts.append(
            f"{report.alerts_aged} alert(s) past the client-address limit given pseudonyms"
        )
    for sink, count in report.delivered.items():
        parts.append(f"delivered {count} alert(s) to {sink}")
    for sink, count in report.resent.items():
        parts.append(
            f"sent {count} alert(s) to {sink} again: an earlier run ended before recording "
            "their delivery (same Idempotency-Key)"
        )
    for sink, errors in report.delivery_errors.items():
        parts.append(f"delivery to {sink} failed, will retry next build: {errors[0]}")
    return "\n".join(parts)
