"""``certsight ingest``: progress while reading, then a table per source."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from certsight.settings import Home
from ingest.lake import Lake
from ingest.run import IngestReport, SourceReport, ingest
from ingest.sources import SourceError, find_sources
from ingest.storage import StorageError


def _now() -> datetime:
    return datetime.now(UTC)


def lake_for(home: Home, lake_uri: str | None) -> Lake:
    return Lake.at(lake_uri or str(home.lake))


def run_ingest(
    home: Home, sources: list[str], lake_dir: str | None, *, console: Console
) -> IngestReport:
    try:
        return _run_ingest(home, sources, lake_dir, console=console)
    except (OSError, BotoCoreError, ClientError) as exc:
        # The ingest itself could not work: unreachable bucket, no permission, disk full.
        raise StorageError(f"ingest could not run: {exc}") from exc


def _run_ingest(
    home: Home, sources: list[str], lake_dir: str | None, *, console: Console
) -> IngestReport:
    lake = lake_for(home, lake_dir)
    if not sources and not home.raw.exists():
        raise SourceError(f"nothing to ingest: {home.raw} does not exist")
    objects = find_sources(sources or [str(home.raw)])
    with Progress(
        TextColumn("ingest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("ingest", total=len(objects))

        def advance(_: SourceReport) -> None:
            progress.advance(task)

        report = ingest(objects, lake, _now, on_object=advance)
    print_report(report, lake, console)
    return report


def print_report(report: IngestReport, lake: Lake, console: Console) -> None:
    if report.rolled_forward or report.rolled_back:
        console.print(
            f"recovered an interrupted ingest: {report.rolled_forward} run(s) "
            f"completed, {report.rolled_back} discarded and read again"
        )
    if report.sources:
        table = Table(title=f"ingested into {lake.uri}")
        for column in ("source", "format", "records", "written", "quarantined", "rows"):
            table.add_column(
                column,
                justify="right" if column in {"records", "written", "quarantined"} else "left",
            )
        for source in report.sources:
            rows = ", ".join(f"{name} {count}" for name, count in sorted(source.rows.items()))
            table.add_row(
                Path(source.uri).name,
                source.format,
                str(source.records_read),
                str(source.records_written),
                str(source.quarantined),
                rows,
            )
        console.print(table)
    read = sum(s.records_read for s in report.sources)
    quarantined = sum(s.quarantined for s in report.sources)
    console.print(
        f"{len(report.sources)} new object(s), {read} record(s), {quarantined} "
        f"quarantined; {report.already_ingested} object(s) already in the LAKE"
    )


def ingest_home(home: Home) -> IngestReport:
    """The RAW of this home into its LAKE, quietly: what ``certsight run`` does each minute."""
    return ingest(
        find_sources([str(home.raw)]) if home.raw.exists() else [], lake_for(home, None), _now
    )


def summary(report: IngestReport) -> str:
    rows: dict[str, int] = {}
    for source in report.sources:
        for table, count in source.rows.items():
            rows[table] = rows.get(table, 0) + count
    quarantined = sum(s.quarantined for s in report.sources)
    tables = ", ".join(f"{count} {table}" for table, count in sorted(rows.items())) or "no rows"
    return f"ingested {len(report.sources)} object(s): {tables}; {quarantined} quarantined"
