"""``certsight simulate``: options, progress and the closing summary.

The options are an interface (scripts and the detector tests depend on them). This
module stays light to import, since the CLI imports it at start-up: the simulation
itself is imported when the command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from rich.console import Console

from certsight.settings import Home

F = TypeVar("F", bound=Callable[..., Any])
END_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def simulate_options(command: F) -> F:
    """The options of ``certsight simulate``, applied to the CLI's thin wrapper."""
    options = [
        click.option(
            "--format",
            "output_format",
            type=click.Choice(["raw", "lake"]),
            default="raw",
            show_default=True,
            help="raw: the logs, certificates and CRLs production writes, under HOME/raw; "
            "lake: the LAKE tables directly (fast, for large simulations)",
        ),
        click.option(
            "--lake", "lake_uri", default=None, help="LAKE for --format lake (default HOME/lake)"
        ),
        click.option("--seed", type=click.IntRange(0), default=1, show_default=True),
        click.option(
            "--end",
            type=click.DateTime(formats=END_FORMATS),
            default=None,
            help="end of the simulation, UTC, exclusive (default: today 00:00 UTC)",
        ),
        click.option(
            "--days",
            type=click.IntRange(1, 366),
            default=14,
            show_default=True,
            help="days simulated before the day of --end",
        ),
        click.option(
            "--requests",
            type=click.IntRange(1_000),
            default=300_000,
            show_default=True,
            help="about how many OCSP requests in all",
        ),
        click.option(
            "--clients",
            type=click.IntRange(10, 250_000),
            default=None,
            help="clients (default: from --requests, about 14 requests per client and day)",
        ),
        click.option(
            "--servers",
            type=click.IntRange(10, 25_000),
            default=None,
            help="servers (default: one per six clients, at least 60)",
        ),
        click.option(
            "--learning-days",
            type=click.IntRange(1),
            default=7,
            show_default=True,
            help="days before any incident; every client-server pair shows up in them",
        ),
        click.option(
            "--incidents",
            type=click.IntRange(0, 50),
            default=3,
            show_default=True,
            help="incidents per detector",
        ),
        click.option(
            "--churn/--no-churn",
            default=False,
            show_default=True,
            help="ordinary churn too: new pairs the client's zone peers already use, "
            "renewals deployed late or on part of a pool",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def simulate_command(
    home: Home,
    console: Console,
    *,
    output_format: str,
    lake_uri: str | None,
    seed: int,
    end: datetime | None,
    days: int,
    requests: int,
    clients: int | None,
    servers: int | None,
    learning_days: int,
    incidents: int,
    churn: bool = False,
) -> None:
    from simulator.config import ConfigError, make_config

    if lake_uri is not None and output_format != "lake":
        raise click.UsageError("--lake goes with --format lake")
    if end is None:
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        config = make_config(
            seed=seed,
            end=end,
            days=days,
            requests=requests,
            clients=clients,
            servers=servers,
            learning_days=learning_days,
            incidents=incidents,
            churn=churn,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    _run(home, console, config, output_format, lake_uri)


def _run(
    home: Home, console: Console, config: Any, output_format: str, lake_uri: str | None
) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from simulator.run import Progress as Done
    from simulator.run import run_simulation

    with Progress(
        TextColumn("simulate {task.fields[day]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("hours, {task.fields[requests]:,} requests"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("simulate", total=config.hours, day="", requests=0)

        def advance(done: Done) -> None:
            day = config.start_us // 86_400_000_000 + (done.hours_done - 1) // 24
            progress.update(
                task,
                completed=done.hours_done,
                requests=done.requests,
                day=datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d"),
            )

        summary = run_simulation(
            config, home.root, mode=output_format, lake_uri=lake_uri, on_hour=advance
        )
    _report(console, summary)


def _report(console: Console, summary: Any) -> None:
    from rich.table import Table

    config = summary.config
    console.print(
        f"simulated {config.start:%Y-%m-%d} to {config.end:%Y-%m-%d %H:%M} UTC "
        f"(seed {config.seed}): {summary.clients:,} clients, {summary.servers:,} servers, "
        f"{summary.certificates:,} certificates, {summary.requests:,} OCSP requests "
        f"in {summary.seconds:.1f} s"
    )
    if summary.rows:
        table = Table(title=f"LAKE tables written to {summary.output}")
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name, count in sorted(summary.rows.items()):
            table.add_row(name, f"{count:,}")
        console.print(table)
        total = sum(summary.rows.values())
        console.print(f"{total:,} rows, {total / max(summary.seconds, 1e-9):,.0f} rows/s")
    else:
        console.print(f"RAW written under {summary.output}; next: certsight ingest")
    incidents = ", ".join(f"{n} {d}" for d, n in sorted(summary.incidents.items())) or "none"
    console.print(f"expected alerts: {incidents}")
    console.print(f"truth: {summary.truth}; networks: {summary.networks}")
