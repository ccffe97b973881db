"""`certsight report` and the scheduled reports, over the small fixture warehouse: each
audience's report renders offline with its sections and freshness lines, its numbers are
the SQL's numbers, client addresses stay pseudonymous, and delivery works to a folder,
through the CLI and to an S3 prefix (moto's server on loopback)."""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import altair as alt
import boto3
import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console

from certsight.cli import main
from certsight.reporting import (
    completed_period,
    make_report,
    write_due_reports,
)
from certsight.settings import CertsightSettings, Home, SettingsError
from dashboards.privacy import pseudonym
from dashboards.queries import Filters
from dashboards.reports.html import render_html
from dashboards.reports.model import Figure, Kpi, Report, Section, Table, period_filters
from dashboards.reports.svg import _utc_time, chart_svg

KEY = "test-pseudonym-key"
DASH = "\u2013"  # the en dash between a period's days
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
IP = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
SECTIONS = {
    "pki": (
        "Certificates and renewals",
        "Validation load",
        "Trust stores and agents",
        "CA footprint by client type",
    ),
    "cyber": (
        "Alerts",
        "Risky validations",
        "New edges and zones",
        "Most relied-upon servers and clients",
    ),
    "management": ("Summary", "Key exposure"),
}


def copy_home(warehouse_home: Home, root: Path) -> Home:
    """A home of its own holding a copy of the fixture's warehouse: reports, keys and
    state files land there, never in the shared fixture."""
    root.mkdir(parents=True)
    shutil.copyfile(warehouse_home.warehouse, root / "warehouse.duckdb")
    return Home(root)


@pytest.fixture
def home(warehouse_home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    monkeypatch.setenv("CERTSIGHT_PSEUDONYM_KEY", KEY)
    return copy_home(warehouse_home, tmp_path / "home")


@dataclass(frozen=True)
class Written:
    html: str
    csvs: dict[str, pd.DataFrame]
    locations: list[str]


@pytest.fixture(scope="module")
def written(warehouse_home: Home, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Written]:
    """Each audience's default report, written once through `make_report` to --out."""
    base = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CERTSIGHT_PSEUDONYM_KEY", KEY)
        home = copy_home(warehouse_home, base / "home")
        found: dict[str, Written] = {}
        for audience in SECTIONS:
            out = base / "out" / f"{audience}.html"
            locations = make_report(
                home,
                audience=audience,
                period=None,
                end=None,
                out=out,
                now=NOW,
                notes=Console(file=io.StringIO()),
            )
            csvs = {Path(p).name: pd.read_csv(p) for p in locations[1:] if Path(p).suffix == ".csv"}
            found[audience] = Written(out.read_text(), csvs, locations)
    return found


def last_day(con: duckdb.DuckDBPyConnection) -> date:
    found = con.execute("select max(dt) from fact_validation_daily").fetchone()
    assert found is not None
    return date.fromisoformat(str(found[0]))


def kpi(html: str, label: str) -> str:
    match = re.search(
        rf'<div class="label">{re.escape(label)}</div><div class="value">([^<]*)</div>', html
    )
    assert match, f"no KPI {label!r}"
    return match.group(1)


def client_ips(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {str(r[0]) for r in con.execute("select client_ip from dim_client").fetchall()}


# -- periods and schedule (pure) --------------------------------------------------------


def test_periods() -> None:
    assert period_filters("week", date(2026, 11, 27)) == Filters(
        date(2026, 11, 21), date(2026, 11, 27)
    )
    assert period_filters("month", date(2026, 11, 27)) == Filters(
        date(2026, 11, 1), date(2026, 11, 27)
    )
    first = date(2026, 11, 14)
    # Saturday the 28th: the last full data day is Friday the 27th, the last ISO week
    # completed ends on Sunday the 22nd.
    assert completed_period("week", date(2026, 11, 28), first, date(2026, 11, 27)) == date(
        2026, 11, 22
    )
    # The data stops before the week is over: the week before it.
    assert completed_period("week", date(2026, 12, 5), first, date(2026, 11, 21)) == date(
        2026, 11, 15
    )
    assert completed_period("month", date(2026, 12, 3), first, date(2026, 12, 2)) == date(
        2026, 11, 30
    )
    # November is not covered by the data yet, October holds no traffic at all.
    assert completed_period("month", date(2026, 12, 3), first, date(2026, 11, 27)) is None


# -- each audience's report -------------------------------------------------------------


@pytest.mark.parametrize("audience", list(SECTIONS))
def test_report_renders_with_sections_period_and_freshness(
    written: dict[str, Written], warehouse: duckdb.DuckDBPyConnection, audience: str
) -> None:
    html = written[audience].html
    end = last_day(warehouse)
    start = end - timedelta(days=6) if audience != "management" else end.replace(day=1)
    for title in SECTIONS[audience]:
        assert f"<h2>{title}</h2>" in html
    assert f"<b>Period</b> {start:%Y-%m-%d} {DASH} {end:%Y-%m-%d} (UTC days" in html
    newest, built = warehouse.execute(
        "select max(last_seen), max(built_at) from fact_validation_daily"
    ).fetchone() or (None, None)
    assert newest is not None and built is not None
    assert (
        f"<b>Data freshness</b> newest event {newest.astimezone(UTC):%Y-%m-%d %H:%M} UTC; "
        f"warehouse built {built.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    ) in html
    assert f"<b>Generated</b> {NOW:%Y-%m-%d %H:%M} UTC" in html
    assert html.count("<svg") >= len(SECTIONS[audience])
    # offline: no script, nothing to fetch; the SVG namespace is the one URL allowed
    assert "<script" not in html.lower()
    assert set(re.findall(r"https?://[^\s\"'<>)]*", html)) == {"http://www.w3.org/2000/svg"}
    assert "@import" not in html and "url(http" not in html
    # every table has its CSV beside the page, and the CSVs parse
    assert written[audience].locations[0].endswith(f"{audience}.html")
    csvs = written[audience].csvs
    assert csvs
    for name in csvs:
        assert name.startswith(f"{audience}-") and f"{name}" in html


def test_pki_numbers_are_the_sql_numbers(
    written: dict[str, Written], warehouse: duckdb.DuckDBPyConnection
) -> None:
    end = last_day(warehouse)
    managed = warehouse.execute(
        """
        select count(*) from dim_certificate
        where in_inventory and server is not null
          and not_before::date <= $end and not_after::date > $end
          and (revoked_at is null or revoked_at::date > $end)
        """,
        {"end": end},
    ).fetchone()
    assert managed is not None and managed[0] > 0
    html = written["pki"].html
    assert kpi(html, "Certificates under management") == f"{managed[0]:,}"
    table = written["pki"].csvs["pki-certificates-managed.csv"]
    assert int(table["certificates"].sum()) == managed[0]
    requests = warehouse.execute(
        "select sum(requests) from fact_validation_daily where dt between $s and $e",
        {"s": end - timedelta(days=6), "e": end},
    ).fetchone()
    assert requests is not None
    assert kpi(html, "OCSP requests") == f"{int(requests[0]):,}"


def test_cyber_and_management_alert_numbers_are_the_sql_numbers(
    written: dict[str, Written], warehouse: duckdb.DuckDBPyConnection
) -> None:
    end = last_day(warehouse)
    week = warehouse.execute(
        """
        select count(*) from alerts where status = 'open' and severity = 'critical'
          and last_seen::date >= $s and first_seen::date <= $e
        """,
        {"s": end - timedelta(days=6), "e": end},
    ).fetchone()
    assert week is not None and week[0] > 0
    assert kpi(written["cyber"].html, "Open critical") == f"{week[0]:,}"
    queue = written["cyber"].csvs["cyber-alert-queue.csv"]
    assert (queue["severity"] == "critical").sum() == week[0]
    assert queue["evidence"].str.len().gt(0).all()
    critical = warehouse.execute(
        """
        select count(*) from alerts
        where severity = 'critical' and status = 'open' and first_seen::date <= $e
        """,
        {"e": end},
    ).fetchone()
    assert critical is not None
    assert kpi(written["management"].html, "Open critical alerts") == f"{critical[0]:,}"
    kpis = written["management"].csvs["management-kpis.csv"]
    this_period = kpis.loc[kpis["measure"] == "open_critical_alerts", "this_period"]
    assert this_period.astype(int).tolist() == [critical[0]]
    assert "previous period" in written["management"].html


def test_client_addresses_are_pseudonymised(
    written: dict[str, Written], warehouse: duckdb.DuckDBPyConnection
) -> None:
    clients = client_ips(warehouse)
    for audience in ("management", "cyber"):  # cyber: pseudonymise_exports defaults to true
        texts = [written[audience].html] + [
            t.to_csv(index=False) for t in written[audience].csvs.values()
        ]
        for text in texts:
            assert not clients & set(IP.findall(text)), audience
    queue = written["cyber"].csvs["cyber-alert-queue.csv"]
    shown = set(queue["client_ip"].dropna())
    assert shown and all(name.startswith("client-") for name in shown)
    end = last_day(warehouse)
    raw = warehouse.execute(
        """
        select client_ip from alerts where status = 'open' and client_ip is not null
          and last_seen::date >= $s and first_seen::date <= $e
        """,
        {"s": end - timedelta(days=6), "e": end},
    ).fetchall()
    assert raw
    assert {pseudonym(str(r[0]), KEY.encode()) for r in raw} == shown


def test_raw_addresses_only_where_settings_allow_and_never_for_management(home: Home) -> None:
    (home.root / "certsight.toml").write_text("[privacy]\npseudonymise_exports = false\n")
    quiet = Console(file=io.StringIO())
    out = home.root / "out"
    for audience in ("cyber", "management"):
        make_report(
            home,
            audience=audience,
            period=None,
            end=None,
            out=out / f"{audience}.html",
            now=NOW,
            notes=quiet,
        )
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        clients = client_ips(con)
    finally:
        con.close()
    assert clients & set(IP.findall((out / "cyber-alert-queue.csv").read_text()))
    for path in out.glob("management*"):
        assert not clients & set(IP.findall(path.read_text())), path.name


# -- the CLI, folders and S3 ------------------------------------------------------------


def test_cli_report_to_a_file_and_to_the_default_folder(home: Home) -> None:
    out = home.root / "mail" / "weekly.html"
    result = CliRunner().invoke(
        main, ["report", "--home", str(home.root), "--audience", "cyber", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == str(out)
    assert (out.parent / "weekly-alert-queue.csv").exists()
    assert sorted(lines[1:]) == sorted(str(p) for p in out.parent.glob("weekly-*.csv"))

    result = CliRunner().invoke(
        main,
        ["report", "--home", str(home.root), "--audience", "pki", "--period", "month"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == str(home.root / "reports" / "pki-month-2026-11-27.html")
    assert not list((home.root / "reports").glob(".*.tmp"))


def test_cli_bad_end_is_a_usage_error_and_an_end_outside_the_data_says_so(home: Home) -> None:
    result = CliRunner().invoke(
        main, ["report", "--home", str(home.root), "--audience", "pki", "--end", "27/11/2026"]
    )
    assert result.exit_code == 2
    assert "Invalid value for '--end'" in result.stderr

    out = home.root / "future.html"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "--home",
            str(home.root),
            "--audience",
            "cyber",
            "--end",
            "2030-01-06",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "outside the data" in result.stderr
    html = out.read_text()
    assert "lies outside the data" in html
    assert "No open alert in this period." in html
    assert f"<b>Period</b> 2029-12-31 {DASH} 2030-01-06" in html


def test_missing_warehouse_and_bad_settings_are_user_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["report", "--home", str(tmp_path), "--audience", "management"]
    )
    assert result.exit_code == 1
    assert "certsight build" in result.stderr
    (tmp_path / "certsight.toml").write_text('[reports]\ndestination = "ftp://x"\n')
    with pytest.raises(SettingsError, match=r"reports\.destination: only folders and s3://"):
        CertsightSettings.load(Home(tmp_path))
    (tmp_path / "certsight.toml").write_text('[reports]\nfolder = "x"\n')
    result = CliRunner().invoke(main, ["report", "--home", str(tmp_path), "--audience", "pki"])
    assert result.exit_code == 1
    assert f"{tmp_path / 'certsight.toml'}: reports.folder: unknown key" in result.stderr


def test_delivery_to_an_s3_prefix(home: Home, aws_env: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_env)
    s3.create_bucket(Bucket="pki-reports")
    (home.root / "certsight.toml").write_text(
        '[reports]\ndestination = "s3://pki-reports/certsight/weekly/"\n'
    )
    result = CliRunner().invoke(
        main, ["report", "--home", str(home.root), "--audience", "management"]
    )
    assert result.exit_code == 0, result.output
    stem = "certsight/weekly/management-month-2026-11-27"
    assert result.stdout.splitlines()[0] == f"s3://pki-reports/{stem}.html"
    listed = s3.list_objects_v2(Bucket="pki-reports", Prefix="certsight/weekly/")
    keys = {item["Key"] for item in listed.get("Contents", [])}
    assert f"{stem}.html" in keys and f"{stem}-kpis.csv" in keys
    page = s3.get_object(Bucket="pki-reports", Key=f"{stem}.html")
    assert page["ContentType"].startswith("text/html")
    assert b"<h1>Management report</h1>" in page["Body"].read()
    kpis = s3.get_object(Bucket="pki-reports", Key=f"{stem}-kpis.csv")["Body"].read()
    assert "open_critical_alerts" in set(pd.read_csv(io.BytesIO(kpis))["measure"])
    assert "testing" not in result.output  # the credentials never reach the output


# -- the schedule -----------------------------------------------------------------------


def test_due_reports_are_written_once(home: Home) -> None:
    told = io.StringIO()
    console = Console(file=told, width=200)
    folder = home.root / "reports"

    first = write_due_reports(home, now=NOW, console=console)

    names = sorted(Path(p).name for p in first)
    assert names == [
        "cyber-week-2026-11-22.html",
        "latest-cyber.html",
        "latest-management.html",
        "latest-pki.html",
        "pki-week-2026-11-22.html",
    ]
    assert (folder / "pki-week-2026-11-22-validation-load.csv").exists()
    assert (folder / "latest-management-kpis.csv").exists()
    weekly = (folder / "pki-week-2026-11-22.html").read_text()
    assert f"<b>Period</b> 2026-11-16 {DASH} 2026-11-22" in weekly
    assert f"<b>Period</b> 2026-11-21 {DASH} 2026-11-27" in (folder / "latest-pki.html").read_text()

    # a minute later: nothing is due, the latest set is fresh enough
    assert write_due_reports(home, now=NOW + timedelta(minutes=1), console=console) == []
    # a quarter of an hour later: the latest set again, the weekly ones not
    again = write_due_reports(home, now=NOW + timedelta(minutes=16), console=console)
    assert sorted(Path(p).name for p in again) == [
        "latest-cyber.html",
        "latest-management.html",
        "latest-pki.html",
    ]
    assert (folder / "pki-week-2026-11-22.html").read_text() == weekly
    assert told.getvalue() == ""


def test_due_reports_without_a_warehouse(tmp_path: Path) -> None:
    told = io.StringIO()
    console = Console(file=told, width=200)
    home = Home(tmp_path / "empty")
    assert write_due_reports(home, now=NOW, console=console) == []
    assert write_due_reports(home, now=NOW, console=console) == []
    assert told.getvalue().count("no warehouse yet") == 1
    assert not (home.root / "reports").exists()


# -- rendering details ------------------------------------------------------------------


def test_values_are_escaped_and_long_tables_point_to_their_csv() -> None:
    frame = pd.DataFrame(
        {"server": ["<script>alert(1)</script>"] + [f"s{i}" for i in range(29)], "n": range(30)}
    )
    chart = alt.Chart(frame, title="<b>bold</b>").mark_bar().encode(x="server:N", y="n:Q")
    report = Report(
        audience="pki",
        period="week",
        filters=Filters(date(2026, 11, 21), date(2026, 11, 27)),
        window={"first_day": None, "last_day": None, "newest_event": None, "built_at": None},
        generated_at=NOW,
        sections=(
            Section(
                "x",
                "A & B",
                "intro <i>",
                kpis=(Kpi("<label>", "1"),),
                figures=(Figure("fig", chart), Figure("empty", None, "nothing <here>")),
                tables=(Table("servers", "Servers", frame),),
            ),
        ),
        pseudonymised=True,
    )
    html = render_html(report, "pki-week-2026-11-27")
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<h2>A &amp; B</h2>" in html and "nothing &lt;here&gt;" in html
    assert "Showing 20 of 30 rows; all rows are in pki-week-2026-11-27-servers.csv." in html
    assert html.count("<tr>") == 21  # header + 20 rows


def test_svg_is_fixed_width_utc_and_scoped() -> None:
    frame = pd.DataFrame(
        {"day": pd.to_datetime(["2026-11-21", "2026-11-22"]), "requests": [3, 4], "ca": ["a", "b"]}
    )
    chart = (
        alt.Chart(frame, width="container")
        .mark_area()
        .encode(x="day:T", y="requests:Q", color=alt.Color("ca:N"))
    )
    spec = chart.to_dict()
    _utc_time(spec)
    assert spec["encoding"]["x"]["scale"] == {"type": "utc"}
    rows = next(iter(spec["datasets"].values()))
    assert rows[0]["day"] == "2026-11-21T00:00:00Z"
    svg = chart_svg(chart, prefix="c7", width=400)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert "xlink" not in svg
    assert all(i.startswith("c7-") for i in re.findall(r'\bid="([^"]+)"', svg))
    assert chart.width == "container"  # the caller's chart is left as it was
