"""``certsight lake retain`` as an operator runs it: what it prints, what it changes, and
how a bad ``[privacy]`` setting stops it."""

from __future__ import annotations

import io
import json
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from certsight.cli import main
from certsight.settings import Home
from dashboards.privacy import pseudonym
from ingest.lake import Lake
from tests.conftest import PkiHome
from tests.ingest.test_retention import traffic

KEY = "cli-retention-key"
# older than the default 90 days whatever today is: the command runs on the real clock
DAYS = tuple(date(2026, 1, 1) + timedelta(days=n) for n in range(2))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTSIGHT_HOME", raising=False)
    monkeypatch.setenv("CERTSIGHT_PSEUDONYM_KEY", KEY)


def cli(*args: str | Path) -> Result:
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    assert KEY not in result.output  # the key is never printed
    return result


@pytest.fixture
def home(pki_home: PkiHome, tmp_path: Path) -> Path:
    root = tmp_path / "home"
    traffic(pki_home, root / "raw", DAYS)
    done = cli("ingest", "--home", root)
    assert done.exit_code == 0, done.output
    return root


def test_dry_run_reports_in_json_and_changes_nothing(home: Path) -> None:
    files = {p: p.read_bytes() for p in (home / "lake").rglob("*.parquet")}
    result = cli("lake", "retain", "--home", home, "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True and report["record"] is None
    assert {(p["table"], p["partition"]) for p in report["pseudonymised"]} == {
        (table, f"dt={day}")
        for table in ("ocsp_requests", "crl_fetches", "artifact_downloads")
        for day in DAYS
    }
    assert all(p["values"] > 0 for p in report["pseudonymised"])
    # ingested just now: RAW is kept for raw_days (30) after its ingest
    assert report["raw"]["deleted"] == 0 and report["raw"]["not_ingested"] == []
    assert {p: p.read_bytes() for p in (home / "lake").rglob("*.parquet")} == files


def test_a_run_pseudonymises_prints_what_it_did_and_a_second_does_nothing(home: Path) -> None:
    before = Lake.at(str(home / "lake")).read("ocsp_requests").column("client_ip").to_pylist()
    result = cli("lake", "retain", "--home", home)
    assert result.exit_code == 0, result.output
    assert "pseudonymised ocsp_requests/dt=2026-01-01: 1 file(s)" in result.stdout
    assert (
        result.stdout.strip()
        .splitlines()[-1]
        .startswith("retention: 6 partition(s) pseudonymised (client addresses before ")
    )
    after = Lake.at(str(home / "lake")).read("ocsp_requests").column("client_ip").to_pylist()
    assert after == [pseudonym(v, KEY.encode()) if v else v for v in before]
    again = cli("lake", "retain", "--home", home, "--format", "json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["pseudonymised"] == [] and report["partitions_read"] == 0


@pytest.mark.parametrize(
    ("settings", "key", "problem"),
    [
        ("[privacy]\nraw_days = 120\n", "privacy.raw_days", "longer than client_address_days"),
        ("[privacy]\nlake_days = 0\n", "privacy.lake_days", "between 1 and 36500"),
        ("[privacy]\nclient_address_days = '90'\n", "privacy.client_address_days", "integer"),
    ],
)
def test_a_bad_setting_stops_it_before_anything_changes(
    home: Path, settings: str, key: str, problem: str
) -> None:
    (home / "certsight.toml").write_text(settings)
    files = {p: p.read_bytes() for p in (home / "lake").rglob("*.parquet")}
    result = cli("lake", "retain", "--home", home)
    assert result.exit_code == 1
    assert f"Error: {home / 'certsight.toml'}: {key}: " in result.output
    assert problem in result.output
    assert "Traceback" not in result.output
    assert {p: p.read_bytes() for p in (home / "lake").rglob("*.parquet")} == files


def test_raw_beyond_the_address_limit_only_when_accepted(home: Path) -> None:
    (home / "certsight.toml").write_text(
        "[privacy]\nraw_days = 120\naccept_raw_beyond_address_limit = true\n"
    )
    assert cli("lake", "retain", "--home", home, "--dry-run").exit_code == 0


def test_a_bad_option_is_a_usage_error(home: Path) -> None:
    result = cli("lake", "retain", "--home", home, "--format", "xml")
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.output


def test_certsight_runs_daily_round_retains_before_it_builds(home: Path) -> None:
    """`certsight run` applies retention at start and once a UTC day, before the build of
    the same round, so the warehouse it builds already holds the pseudonyms."""
    import duckdb
    from rich.console import Console

    from certsight.demo import _ingest_every

    out = io.StringIO()
    stop = threading.Event()
    stop.set()  # one round, as at start
    _ingest_every(Home(home), 60.0, stop, Console(file=out, width=200))
    assert "retention: 6 partition(s) pseudonymised" in out.getvalue()
    assert KEY not in out.getvalue()
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        clients = [ip for (ip,) in con.execute("select client_ip from dim_client").fetchall()]
    finally:
        con.close()
    key = KEY.encode()
    assert clients and all(ip.startswith("client-") for ip in clients)
    assert pseudonym("198.51.1.0", key) in clients
