"""``certsight report`` and the reports ``certsight run`` writes on its own: the adapter
between the pure report building (``dashboards.reports``), the home's settings, the
warehouse (opened read-only per use) and where reports go (a folder or an S3 prefix).

```toml
[reports]
destination = "reports"            # a folder (relative to HOME) or s3://bucket/prefix
```

Schedule (``write_due_reports``, called by ``certsight run`` every round):

* per audience, the report of the last *completed* period, once: ISO weeks (Monday to
  Sunday) for pki and cyber, calendar months for management. A period is completed when
  its last day is over (before today, UTC) and the warehouse holds traffic up to it, so a
  stalled pipeline delays a report rather than writing one with days missing;
* a rolling ``latest-<audience>.html`` (and its CSVs), the default period ending on the
  last day with traffic, refreshed at most every 15 minutes.

What was written is remembered in ``HOME/.certsight/reports-state.json``, per destination.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console

from certsight.settings import Home
from dashboards.settings import AUDIENCES

if TYPE_CHECKING:
    import duckdb
    from mypy_boto3_s3 import S3Client

SECTION = "reports"
DEFAULT_FOLDER = "reports"
STATE_FILE = Path(".certsight") / "reports-state.json"
LATEST_EVERY = timedelta(minutes=15)
_KEYS = frozenset({"destination"})


class ReportError(ValueError):
    """A report cannot be written as asked: settings, an empty warehouse, delivery."""


# -- settings and destinations ----------------------------------------------------------


@dataclass(frozen=True)
class ReportSettings:
    destination: str  # an absolute folder, or s3://bucket/prefix


def parse_report_settings(document: Mapping[str, Any], home: Home) -> ReportSettings:
    table = document.get(SECTION, {})
    if not isinstance(table, Mapping):
        raise ReportError(f"[{SECTION}] must be a table")
    for key in sorted(set(table) - _KEYS, key=str):
        raise ReportError(f"[{SECTION}] {key}: unknown key (known: {', '.join(sorted(_KEYS))})")
    value = table.get("destination", DEFAULT_FOLDER)
    if not isinstance(value, str) or not value.strip():
        raise ReportError(f"[{SECTION}] destination must be a folder or s3://bucket/prefix")
    value = value.strip()
    if value.startswith("s3://"):
        S3Destination.parse(value)  # checked now, not at the first delivery
        return ReportSettings(value.rstrip("/"))
    if "://" in value:
        raise ReportError(
            f"[{SECTION}] destination {value!r}: only folders and s3:// are supported"
        )
    folder = Path(value).expanduser()
    return ReportSettings(str(folder if folder.is_absolute() else home.root / folder))


def load_report_settings(home: Home) -> ReportSettings:
    from dashboards.settings import read_document

    return parse_report_settings(read_document(home.root), home)


class Destination(Protocol):
    def write(self, name: str, data: bytes, content_type: str) -> str:
        """Store ``data`` as ``name``, whole or not at all; returns where it went."""
        ...


class FolderDestination:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __str__(self) -> str:
        return str(self.folder)

    def write(self, name: str, data: bytes, content_type: str) -> str:
        del content_type
        target = self.folder / name
        temporary = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise ReportError(f"cannot write {target}: {exc.strerror or exc}") from exc
        return str(target)


class S3Destination:
    """Objects under ``s3://bucket/prefix``. Endpoint, region and credentials come from
    the standard AWS settings (AWS_ENDPOINT_URL, AWS_REGION, profiles, the usual chain);
    an object appears whole or not at all, as S3 does."""

    def __init__(self, uri: str, client: S3Client | None = None) -> None:
        self.uri = uri
        self.bucket, self.prefix = self.parse(uri)
        self._client = client

    def __str__(self) -> str:
        return self.uri

    @staticmethod
    def parse(uri: str) -> tuple[str, str]:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ReportError(f"{uri}: name a bucket, s3://bucket/prefix")
        return bucket, prefix.strip("/")

    def client(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "s3",
                config=Config(
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"mode": "standard", "total_max_attempts": 3},
                ),
            )
        return self._client

    def write(self, name: str, data: bytes, content_type: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        key = f"{self.prefix}/{name}" if self.prefix else name
        try:
            self.client().put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )
        except (BotoCoreError, ClientError) as exc:  # their messages carry no secret
            raise ReportError(f"cannot write s3://{self.bucket}/{key}: {exc}") from exc
        return f"s3://{self.bucket}/{key}"


def destination_for(settings: ReportSettings) -> Destination:
    if settings.destination.startswith("s3://"):
        return S3Destination(settings.destination)
    return FolderDestination(Path(settings.destination))


# -- rendering --------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedReport:
    stem: str
    html: str
    csvs: dict[str, bytes]  # file name -> content
    notices: tuple[str, ...]
    seconds: float


def report_stem(audience: str, period: str, end: date) -> str:
    return f"{audience}-{period}-{end:%Y-%m-%d}"


def privacy_key(home: Home, audience: str) -> bytes | None:
    """The pseudonym key when client addresses must not appear: always for management,
    for the others unless ``[privacy] pseudonymise_exports = false``."""
    from dashboards.privacy import load_key
    from dashboards.settings import load_settings

    settings = load_settings(home.root)
    if audience == "management" or settings.privacy.pseudonymise_exports:
        return load_key(home.root, settings.privacy.key_env)
    return None


def render(
    con: duckdb.DuckDBPyConnection,
    home: Home,
    *,
    audience: str,
    period: str,
    end: date,
    now: datetime,
    stem: str | None = None,
) -> RenderedReport:
    from dashboards.reports.html import csv_files, render_html
    from dashboards.reports.model import period_filters
    from dashboards.reports.sections import build_report

    started = time.perf_counter()
    report = build_report(
        con,
        audience,
        period,
        period_filters(period, end),
        generated_at=now,
        privacy_key=privacy_key(home, audience),
    )
    stem = stem or report_stem(audience, period, end)
    return RenderedReport(
        stem,
        render_html(report, stem),
        csv_files(report, stem),
        report.notices,
        time.perf_counter() - started,
    )


def deliver(rendered: RenderedReport, destination: Destination, html_name: str) -> list[str]:
    """The CSVs, then the HTML (whoever sees the page finds its tables); the locations,
    the HTML's first."""
    tables = [
        destination.write(name, data, "text/csv; charset=utf-8")
        for name, data in rendered.csvs.items()
    ]
    page = destination.write(html_name, rendered.html.encode(), "text/html; charset=utf-8")
    return [page, *tables]


def make_report(
    home: Home,
    *,
    audience: str,
    period: str | None,
    end: date | None,
    out: Path | None,
    now: datetime,
    notes: Console,
) -> list[str]:
    """``certsight report``: one report to ``out`` (its CSVs beside it) or to the
    configured destination; returns the locations written."""
    from dashboards.queries import data_window
    from dashboards.reports.model import DEFAULT_PERIODS
    from warehouse.reading import open_warehouse

    period = period or DEFAULT_PERIODS[audience]
    destination = (
        FolderDestination(out.absolute().parent)
        if out is not None
        else destination_for(load_report_settings(home))
    )
    with open_warehouse(home.warehouse) as con:
        if end is None:
            end = data_window(con)["last_day"]
            if end is None:
                raise ReportError(
                    "the warehouse holds no validation traffic yet: nothing to report "
                    "(give --end DATE for a report of the inventory alone)"
                )
        rendered = render(
            con,
            home,
            audience=audience,
            period=period,
            end=end,
            now=now,
            stem=out.stem if out is not None else None,
        )
    for notice in rendered.notices:
        notes.print(f"note: {notice}", soft_wrap=True)
    return deliver(rendered, destination, out.name if out is not None else f"{rendered.stem}.html")


# -- the schedule -----------------------------------------------------------------------


def completed_period(period: str, today: date, first_day: date, last_day: date) -> date | None:
    """The end of the last period that is over and covered by the data, or None when no
    such period holds any traffic. ``week``: ISO weeks, ending on Sunday; ``month``:
    calendar months."""
    # The last day that is over and surely complete: a later day has data too (the day
    # of the newest event may still be arriving, from the CDN's logs for instance).
    full = min(today - timedelta(days=1), last_day - timedelta(days=1))
    if period == "week":
        end = full - timedelta(days=(full.weekday() + 1) % 7)
    elif period == "month":
        end = full if (full + timedelta(days=1)).day == 1 else full.replace(day=1) - timedelta(1)
    else:
        raise ValueError(f"not a period: {period!r}")
    return end if end >= first_day else None


_TOLD_MISSING: set[str] = set()  # homes already told that there is no warehouse yet


def _load_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _save_state(path: Path, state: dict[str, Any]) -> None:
    FolderDestination(path.parent).write(
        path.name, json.dumps(state, indent=2, sort_keys=True).encode(), "application/json"
    )


def write_due_reports(home: Home, *, now: datetime, console: Console) -> list[str]:
    """Write what the schedule says is due (see the module's docstring); returns the HTML
    locations written (their CSVs sit beside them). A missing warehouse is not an error:
    nothing is written and that is said once. A failed delivery is printed and retried
    on the next call; wrong ``[reports]`` settings raise ``ReportError``."""
    from dashboards.queries import data_window
    from warehouse.reading import WarehouseMissingError, open_warehouse

    destination = destination_for(load_report_settings(home))
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    try:
        with open_warehouse(home.warehouse) as con:
            window = data_window(con)
            if window["last_day"] is None:
                _say_once(home, console, "the warehouse holds no validation traffic yet")
                return []
            _TOLD_MISSING.discard(str(home.root))
            return _write_due(home, con, window, destination, now, console)
    except WarehouseMissingError:
        _say_once(home, console, f"no warehouse yet at {home.warehouse}")
        return []


def _say_once(home: Home, console: Console, why: str) -> None:
    if str(home.root) not in _TOLD_MISSING:
        _TOLD_MISSING.add(str(home.root))
        console.print(f"reports: {why}; none written until a build brings traffic")


def _write_due(
    home: Home,
    con: duckdb.DuckDBPyConnection,
    window: dict[str, Any],
    destination: Destination,
    now: datetime,
    console: Console,
) -> list[str]:
    from dashboards.reports.model import DEFAULT_PERIODS

    state_path = home.root / STATE_FILE
    state = _load_state(state_path)
    mine = state.setdefault(str(destination), {})
    due_done: dict[str, str] = mine.setdefault("due", {})
    latest_done: dict[str, str] = mine.setdefault("latest", {})
    written: list[str] = []

    def attempt(rendered: RenderedReport) -> bool:
        try:
            written.append(deliver(rendered, destination, f"{rendered.stem}.html")[0])
        except ReportError as exc:
            console.print(f"[red]report {rendered.stem} not written:[/] {exc}", soft_wrap=True)
            return False
        return True

    for audience in AUDIENCES:
        period = DEFAULT_PERIODS[audience]
        end = completed_period(period, now.date(), window["first_day"], window["last_day"])
        if end is not None and due_done.get(audience) != report_stem(audience, period, end):
            rendered = render(con, home, audience=audience, period=period, end=end, now=now)
            if attempt(rendered):
                due_done[audience] = rendered.stem
                _save_state(state_path, state)
        last = latest_done.get(audience)
        since = now - datetime.fromisoformat(last) if last else None
        if since is None or not timedelta(0) <= since < LATEST_EVERY:
            rendered = render(
                con,
                home,
                audience=audience,
                period=period,
                end=window["last_day"],
                now=now,
                stem=f"latest-{audience}",
            )
            if attempt(rendered):
                latest_done[audience] = now.isoformat()
                _save_state(state_path, state)
    return written
