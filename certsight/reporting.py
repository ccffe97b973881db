"""``certsight report`` and the reports ``certsight run`` writes on its own: the adapter
between the pure report building (``dashboards.reports``), the home's settings, the
warehouse (opened read-only per use) and where reports go: the report store of
``[reports] destination`` (a folder or an S3 prefix, ``warehouse/destinations/``).

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
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from certsight.settings import CertsightSettings, Home
from dashboards.settings import AUDIENCES
from warehouse.destinations import DeliveryError, ReportStore, build_store
from warehouse.destinations.folder import FolderDestination, FolderSettings, write_atomically

if TYPE_CHECKING:
    import duckdb

STATE_FILE = Path(".certsight") / "reports-state.json"
LATEST_EVERY = timedelta(minutes=15)


class ReportError(ValueError):
    """A report cannot be written as asked: an empty warehouse, a failed delivery."""


def destination_for(home: Home, settings: CertsightSettings) -> ReportStore[Any]:
    """The report store of ``[reports] destination`` (``warehouse/destinations/``)."""
    return build_store(settings.reports.destination, settings.destination_context(home))


def folder_for(home: Home, settings: CertsightSettings, folder: Path) -> ReportStore[Any]:
    """A folder chosen on the command line (``--out``) instead of the configured store."""
    chosen = FolderSettings(destination=str(folder))
    return FolderDestination(chosen, settings.destination_context(home))


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


def privacy_key(home: Home, settings: CertsightSettings, audience: str) -> bytes | None:
    """The pseudonym key when client addresses must not appear: always for management,
    for the others unless ``[privacy] pseudonymise_exports = false``."""
    from dashboards.privacy import load_key

    privacy = settings.privacy
    if audience == "management" or privacy.pseudonymise_exports:
        return load_key(home.root, privacy.key_env, settings.environment.variables)
    return None


def render(
    con: duckdb.DuckDBPyConnection,
    home: Home,
    settings: CertsightSettings,
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
        privacy_key=privacy_key(home, settings, audience),
    )
    stem = stem or report_stem(audience, period, end)
    return RenderedReport(
        stem,
        render_html(report, stem),
        csv_files(report, stem),
        report.notices,
        time.perf_counter() - started,
    )


def deliver(rendered: RenderedReport, destination: ReportStore[Any], html_name: str) -> list[str]:
    """The CSVs, then the HTML (whoever sees the page finds its tables); the locations,
    the HTML's first. A store that fails raises ``ReportError`` with its words."""
    try:
        tables = [
            destination.write(name, data, "text/csv; charset=utf-8")
            for name, data in rendered.csvs.items()
        ]
        page = destination.write(html_name, rendered.html.encode(), "text/html; charset=utf-8")
    except DeliveryError as exc:
        raise ReportError(exc.message) from exc
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
    settings = CertsightSettings.load(home)
    destination = (
        folder_for(home, settings, out.absolute().parent)
        if out is not None
        else destination_for(home, settings)
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
            settings,
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
    write_atomically(path, json.dumps(state, indent=2, sort_keys=True).encode())


def write_due_reports(home: Home, *, now: datetime, console: Console) -> list[str]:
    """Write what the schedule says is due (see the module's docstring); returns the HTML
    locations written (their CSVs sit beside them). A missing warehouse is not an error:
    nothing is written and that is said once. A failed delivery is printed and retried
    on the next call; wrong settings raise ``SettingsError``."""
    from dashboards.queries import data_window
    from warehouse.reading import WarehouseMissingError, open_warehouse

    settings = CertsightSettings.load(home)
    destination = destination_for(home, settings)
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    try:
        with open_warehouse(home.warehouse) as con:
            window = data_window(con)
            if window["last_day"] is None:
                _say_once(home, console, "the warehouse holds no validation traffic yet")
                return []
            _TOLD_MISSING.discard(str(home.root))
            return _write_due(home, settings, con, window, destination, now, console)
    except WarehouseMissingError:
        _say_once(home, console, f"no warehouse yet at {home.warehouse}")
        return []


def _say_once(home: Home, console: Console, why: str) -> None:
    if str(home.root) not in _TOLD_MISSING:
        _TOLD_MISSING.add(str(home.root))
        console.print(f"reports: {why}; none written until a build brings traffic")


def _write_due(
    home: Home,
    settings: CertsightSettings,
    con: duckdb.DuckDBPyConnection,
    window: dict[str, Any],
    destination: ReportStore[Any],
    now: datetime,
    console: Console,
) -> list[str]:
    from dashboards.reports.model import DEFAULT_PERIODS

    state_path = home.root / STATE_FILE
    state = _load_state(state_path)
    mine = state.setdefault(destination.location, {})
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
            rendered = render(
                con, home, settings, audience=audience, period=period, end=end, now=now
            )
            if attempt(rendered):
                due_done[audience] = rendered.stem
                _save_state(state_path, state)
        last = latest_done.get(audience)
        since = now - datetime.fromisoformat(last) if last else None
        if since is None or not timedelta(0) <= since < LATEST_EVERY:
            rendered = render(
                con,
                home,
                settings,
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
