"""The warehouse after retention (issue 10, item 4): the next build holds no client
address older than the limit, in the marts or in the alerts, and delivers nothing again.
Retention's clock is held (it takes ``now``); the build follows what the LAKE's last
retention run did, whatever the calendar says."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from certsight.building import run_build
from certsight.retaining import retain_home
from certsight.settings import Home
from dashboards.privacy import load_key, pseudonym
from ingest.lake import Lake
from ingest.run import ingest
from ingest.sources import find_sources
from tests.conftest import PkiHome
from tests.ingest.test_retention import DAYS, INGESTED_AT, traffic
from tests.warehouse.conftest import CA, make_scenario

_DOTTED = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
KEY_ENV = "CERTSIGHT_PSEUDONYM_KEY"


@pytest.fixture(autouse=True)
def _key_in_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)  # the key is made in HOME on first use


def query(home: Path, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql, list(parameters)).fetchall()
    finally:
        con.close()


def is_address(value: object) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def addresses_in(text: str | None) -> list[str]:
    return [found for found in _DOTTED.findall(text or "") if is_address(found)]


def raw_addresses_before(home: Path, before: date) -> dict[str, list[Any]]:
    """Every raw client address the warehouse holds for activity before ``before``."""
    found: dict[str, list[Any]] = {}
    for table in (
        "fact_validation_daily",
        "fact_crl_fetches_daily",
        "fact_downloads_daily",
        "intermediate.int_client_server_daily",
    ):
        rows = query(home, f"select client_ip from {table} where dt < ?", before)
        found[table] = [ip for (ip,) in rows if is_address(ip)]
    for table in ("client_server_edges", "dim_client"):
        rows = query(home, f"select client_ip from {table} where last_seen < ?", before)
        found[table] = [ip for (ip,) in rows if is_address(ip)]
    for table in ("ocsp_requests", "crl_fetches", "artifact_downloads"):
        rows = query(home, f"select client_ip from lake.{table} where dt < ?", before)
        found[f"lake.{table}"] = [ip for (ip,) in rows if is_address(ip)]
    alerts = query(home, "select client_ip, evidence from alerts where last_seen < ?", before)
    found["alerts"] = [ip for ip, _ in alerts if is_address(ip)]
    found["alerts.evidence"] = [a for _, evidence in alerts for a in addresses_in(evidence)]
    return found


def test_the_next_build_follows_retention_and_delivers_nothing_again(tmp_path: Path) -> None:
    scenario = make_scenario(tmp_path)  # traffic 2026-11-01 .. 2026-11-12
    home = Home(scenario.home)
    (scenario.home / "certsight.toml").write_text(
        '[alerts]\njsonl = "alerts.jsonl"\n\n[privacy]\nclient_address_days = 2\nraw_days = 1\n'
    )
    first = run_build(home)
    # every day is past 2 days by the calendar, but no retention ran: nothing is aged
    assert first.mode == "full" and first.alerts_aged == 0
    delivered = (scenario.home / "alerts.jsonl").read_text().splitlines()
    alerts = dict(query(scenario.home, "select alert_key, status from alerts"))
    new_edge = query(
        scenario.home, "select alert_key, client_ip from alerts where detector = 'new_edge'"
    )
    assert new_edge and new_edge[0][1] == "10.1.0.5"
    old = raw_addresses_before(scenario.home, date(2026, 11, 11))
    assert old["alerts"] and old["alerts.evidence"] and old["dim_client"]

    now = datetime(2026, 11, 13, 12, tzinfo=UTC)  # days before 2026-11-11 are past 2 days
    retained = retain_home(home, now)
    assert retained.addresses_before == date(2026, 11, 11)
    assert {p.table for p in retained.pseudonymised} >= {"ocsp_requests", "crl_fetches"}
    second = run_build(home)

    assert second.mode == "incremental"  # pseudonymised days are changed days, not new ones
    assert len(second.changed["ocsp_requests"]) == 10
    assert second.alerts_aged > 0
    leftovers = raw_addresses_before(scenario.home, date(2026, 11, 11))
    assert leftovers == {table: [] for table in leftovers}
    key = load_key(scenario.home, KEY_ENV)
    # the same finding keeps its key (the one the sink had), now under the pseudonym
    assert query(
        scenario.home, "select alert_key, client_ip from alerts where detector = 'new_edge'"
    ) == [(new_edge[0][0], pseudonym("10.1.0.5", key))]
    assert dict(query(scenario.home, "select alert_key, status from alerts")) == alerts
    assert (scenario.home / "alerts.jsonl").read_text().splitlines() == delivered
    # a client seen only before the limit is known by its pseudonym alone
    clients = {ip for (ip,) in query(scenario.home, "select client_ip from dim_client")}
    assert pseudonym("10.1.0.66", key) in clients and "10.1.0.66" not in clients
    assert "10.1.0.5" in clients  # still active within the limit, as logged
    # and the build after that finds nothing more to do
    assert run_build(home).mode == "unchanged"


def test_ingest_build_retain_build_end_to_end(pki_home: PkiHome, tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    traffic(pki_home, home.raw / "ocsp", DAYS)
    lake = Lake.at(str(home.lake))
    ingest(
        find_sources([str(home.raw), str(pki_home.home.raw / "issuance")]),
        lake,
        lambda: INGESTED_AT,
    )
    run_build(home)
    assert any(is_address(ip) for (ip,) in query(home.root, "select client_ip from dim_client"))

    now = datetime(2027, 3, 1, tzinfo=UTC)  # every day is past the default 90 days
    retained = retain_home(home, now)
    assert retained.raw.deleted == len(DAYS)  # read on 2026-11-04, past raw_days (30)
    assert not list(home.raw.rglob("*.gz"))
    built = run_build(home)

    assert built.mode == "incremental"
    assert set(built.changed["ocsp_requests"]) == set(DAYS)
    key = load_key(home.root, KEY_ENV)
    clients = {ip for (ip,) in query(home.root, "select client_ip from dim_client")}
    assert clients and not any(is_address(ip) for ip in clients)
    assert pseudonym("198.51.1.0", key) in clients
    leftovers = raw_addresses_before(home.root, date(2026, 12, 1))
    assert leftovers == {table: [] for table in leftovers}
    assert not any(
        addresses_in(raw) for (raw,) in query(home.root, "select raw from lake.quarantine")
    )


def test_a_request_logged_either_side_of_midnight_ages_with_its_later_day(
    tmp_path: Path,
) -> None:
    """The responder logged it on 2026-11-10, the CDN (which names the viewer) on -11: the
    fact row is on the 10th with the 11th's address, and must lose it when the 11th ages,
    a day after the 10th did."""
    scenario = make_scenario(tmp_path)
    writer = scenario.writer
    evening = datetime(2026, 11, 10, 23, 59, 59, tzinfo=UTC)
    writer.request(evening, "13.32.0.1", CA, "0201", source="lambda", cf_request_id="cf-late")
    midnight = datetime(2026, 11, 11, 0, 0, 1, tzinfo=UTC)
    # a POST: the CDN logs no CertID, so the responder's row counts, with the CDN's viewer
    writer.request(
        midnight, "10.9.9.9", None, None, cf_request_id="cf-late", cache_hit=False, method="POST"
    )
    writer.flush()
    home = Home(scenario.home)
    (scenario.home / "certsight.toml").write_text(
        "[privacy]\nclient_address_days = 2\nraw_days = 1\n"
    )

    def viewers_on_the_10th() -> set[str]:
        rows = query(
            scenario.home,
            "select client_ip from fact_validation_daily where dt = date '2026-11-10'",
        )
        return {ip for (ip,) in rows}

    run_build(home)
    assert "10.9.9.9" in viewers_on_the_10th()
    for now in (datetime(2026, 11, 13, 12, tzinfo=UTC), datetime(2026, 11, 14, 12, tzinfo=UTC)):
        retain_home(home, now)
        run_build(home)
    key = load_key(scenario.home, KEY_ENV)
    viewers = viewers_on_the_10th()
    assert pseudonym("10.9.9.9", key) in viewers
    assert not any(is_address(ip) for ip in viewers)
