"""`certsight build` end to end over a hand-made LAKE: marts, incremental days, alerts."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from certsight.cli import main
from tests.warehouse.conftest import CA, DAYS, START, Scenario, built_scenario


def cli(home: Path, *args: str) -> Any:
    return CliRunner().invoke(main, [args[0], "--home", str(home), *args[1:]])


def query(home: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """One full build shared by the tests that only read the warehouse."""
    return built_scenario(tmp_path_factory.mktemp("built"))


def test_full_build_counts_each_request_once_and_resolves_both_hashes(built: Scenario) -> None:
    scenario = built
    # api.corp: 10 requests a day through the CDN; the misses were logged twice
    assert query(
        scenario.home, "select sum(requests) from fact_validation_daily where server = 'api.corp'"
    ) == [(10 * DAYS,)]
    # www.corp across the renewal, SHA-1 and SHA-256 CertIDs alike
    rows = query(
        scenario.home,
        "select requests, days_active, first_seen from client_server_edges "
        "where client_ip = '10.1.0.5' and server = 'www.corp'",
    )
    assert rows[0][:2] == (10 * DAYS, DAYS)
    assert rows[0][2] == START + timedelta(hours=8, minutes=5)
    # the responder's address behind the CDN is not a client
    assert query(
        scenario.home, "select count(*) from dim_client where client_ip = '13.32.0.1'"
    ) == [(0,)]


def test_staplers_are_recognised_and_kept_out_of_edges(built: Scenario) -> None:
    scenario = built
    assert query(
        scenario.home, "select client_ip, server, reason from intermediate.int_staplers"
    ) == [("10.20.5.9", "pay.corp", "own_address")]
    assert query(
        scenario.home, "select count(*) from client_server_edges where client_ip = '10.20.5.9'"
    ) == [(0,)]
    assert query(
        scenario.home, "select is_stapled, zone from dim_server where server = 'pay.corp'"
    ) == [(True, "pci")]


def test_clients_are_placed_by_longest_prefix(built: Scenario) -> None:
    scenario = built
    zones = dict(query(scenario.home, "select client_ip, zone from dim_client"))
    assert zones["10.1.0.5"] == "corp"
    assert zones["10.20.5.9"] == "pci"
    software = dict(query(scenario.home, "select client_ip, client_software from dim_client"))
    assert software["10.1.0.6"] == "Java"
    assert software["10.1.0.8"] == "certsight agent"


def test_each_detector_raises_its_incident_and_nothing_else(built: Scenario) -> None:
    scenario = built
    found = sorted(
        query(
            scenario.home,
            "select detector, client_ip, server, serial, severity "
            "from alerts where status = 'open'",
        )
    )
    assert found == [
        ("expired_certificate_validated", "10.1.0.5", "old.corp", "0401", "high"),
        ("new_edge", "10.1.0.5", "pay.corp", "0301", "high"),
        ("revoked_certificate_validated", "10.1.0.66", "www.corp", "0101", "critical"),
        ("unknown_certificate", "10.1.0.9", None, "0bad", "critical"),
        ("unknown_issuer", "10.1.0.9", None, "05", "medium"),
    ]


def test_alerts_command_lists_them_as_json(built: Scenario) -> None:
    scenario = built
    result = cli(scenario.home, "alerts", "--format", "json")
    assert result.exit_code == 0, result.output
    alerts = json.loads(result.output)
    assert len(alerts) == 5
    expected = {"detector", "severity", "first_seen", "last_seen", "client_ip", "server"}
    expected |= {"serial", "issuer", "count", "evidence"}
    assert expected <= set(alerts[0])
    assert alerts[0]["severity"] == "critical"
    edge = next(a for a in alerts if a["detector"] == "new_edge")
    assert edge["evidence"]["client_zone"] == "corp" and edge["evidence"]["server_zone"] == "pci"
    # active on or after 10 November (day 9): all but the expired certificate (day 8)
    since = cli(scenario.home, "alerts", "--format", "json", "--since", "2026-11-10")
    assert {a["detector"] for a in json.loads(since.output)} == {
        "new_edge",
        "unknown_certificate",
        "unknown_issuer",
        "revoked_certificate_validated",
    }
    table = cli(scenario.home, "alerts")
    assert table.exit_code == 0 and "5 alert(s)" in table.output


def test_a_new_day_rebuilds_only_that_day(scenario: Scenario) -> None:
    assert cli(scenario.home, "build").exit_code == 0
    before = query(
        scenario.home,
        "select dt, client_ip, certificate_key, requests from fact_validation_daily order by all",
    )
    # Break an old day's file behind the warehouse's back, keeping its size and times:
    # an incremental build must not read it.
    old = next((scenario.home / "lake" / "ocsp_requests" / "dt=2026-11-02").glob("*.parquet"))
    stat = old.stat()
    old.write_bytes(b"\0" * stat.st_size)
    os.utime(old, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    new_day = START + timedelta(days=DAYS)
    for hour in range(8, 18):
        scenario.writer.request(new_day + timedelta(hours=hour), "10.1.0.5", CA, "0102")
    scenario.writer.flush()
    result = cli(scenario.home, "build")
    assert result.exit_code == 0, result.output
    assert "incremental build" in result.output and "1 changed LAKE day" in result.output
    after = query(
        scenario.home,
        "select dt, client_ip, certificate_key, requests from fact_validation_daily order by all",
    )
    assert [r for r in after if r[0] != new_day.date()] == before
    day_sql = f"select sum(requests) from fact_validation_daily where dt = '{new_day.date()}'"
    assert query(scenario.home, day_sql) == [(10,)]
    # the layers built from the fact follow it day by day
    edge_sql = (
        "select days_active, requests from client_server_edges "
        "where client_ip = '10.1.0.5' and server = 'www.corp'"
    )
    assert query(scenario.home, edge_sql) == [(DAYS + 1, 10 * DAYS + 10)]


def test_unchanged_lake_builds_nothing(scenario: Scenario) -> None:
    assert cli(scenario.home, "build").exit_code == 0
    result = cli(scenario.home, "build")
    assert "up to date" in result.output


def test_a_warehouse_built_by_other_models_is_rebuilt_on_an_unchanged_lake(
    scenario: Scenario,
) -> None:
    """An upgrade of the dbt project takes effect on the next build, not with the next day
    of data: the build remembers a digest of the project it ran."""
    assert cli(scenario.home, "build").exit_code == 0
    warehouse = scenario.home / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("update reference.builds set project_digest = 'models of an older release'")
    finally:
        con.close()
    result = cli(scenario.home, "build")
    assert result.exit_code == 0, result.output
    assert "up to date" not in result.output
    assert "up to date" in cli(scenario.home, "build").output


def test_late_certificate_resolves_old_traffic_and_clears_its_alert(scenario: Scenario) -> None:
    assert cli(scenario.home, "build").exit_code == 0
    scenario.writer.certificate(CA, "0bad", "late.corp", START, 47)
    scenario.writer.flush()
    assert cli(scenario.home, "build").exit_code == 0
    assert query(
        scenario.home,
        "select server, certificate_known from fact_validation_daily where serial = '0bad'",
    ) == [("late.corp", True)]
    assert query(
        scenario.home, "select status from alerts where detector = 'unknown_certificate'"
    ) == [("cleared",)]


def test_alerts_survive_a_full_refresh(scenario: Scenario) -> None:
    assert cli(scenario.home, "build").exit_code == 0
    before = query(scenario.home, "select alert_key, raised_at from alerts order by 1")
    result = cli(scenario.home, "build", "--full-refresh")
    assert result.exit_code == 0, result.output
    assert "full build" in result.output
    assert query(scenario.home, "select alert_key, raised_at from alerts order by 1") == before


def test_new_alerts_are_delivered_once_and_retried_when_a_sink_failed(scenario: Scenario) -> None:
    journal = scenario.home / "out" / "alerts.jsonl"
    (scenario.home / "certsight.toml").write_text(
        '[alerts]\njsonl = "out/alerts.jsonl"\nwebhook_url = "http://127.0.0.1:9/hook"\n'
        "webhook_retries = 0\nwebhook_timeout = 1\n"
    )
    first = cli(scenario.home, "build")
    assert first.exit_code == 0, first.output
    assert "delivered 5 alert(s) to jsonl" in first.output
    assert "delivery to webhook failed" in first.output
    assert len(journal.read_text().splitlines()) == 5
    scenario.writer.request(START + timedelta(days=DAYS, hours=9), "10.1.0.5", CA, "0102")
    scenario.writer.flush()
    second = cli(scenario.home, "build")
    assert "jsonl" not in second.output  # nothing new for it
    assert "delivery to webhook failed" in second.output  # still owed, tried again
    assert len(journal.read_text().splitlines()) == 5


def test_bad_network_table_is_refused_with_its_line(scenario: Scenario, tmp_path: Path) -> None:
    bad = tmp_path / "networks.csv"
    bad.write_text("cidr,zone\n10.0.0.0/8,corp\n10.1.2.3/16,lab\n")
    result = cli(scenario.home, "build", "--networks", str(bad))
    assert result.exit_code == 1
    assert "line 3" in result.output and "10.1.2.3/16" in result.output
    assert not (scenario.home / "warehouse.duckdb").exists()


def test_readers_do_not_block_a_build(scenario: Scenario) -> None:
    assert cli(scenario.home, "build").exit_code == 0
    reader = duckdb.connect(str(scenario.home / "warehouse.duckdb"), read_only=True)
    try:
        scenario.writer.request(START + timedelta(days=DAYS, hours=9), "10.1.0.5", CA, "0102")
        scenario.writer.flush()
        result = cli(scenario.home, "build")
        assert result.exit_code == 0, result.output
        # the reader still sees the file it opened
        assert reader.execute("select count(*) from alerts").fetchone() == (5,)
    finally:
        reader.close()


def test_models_pass_their_unit_and_data_tests(scenario: Scenario) -> None:
    result = cli(scenario.home, "build", "--test")
    assert result.exit_code == 0, result.output
    results = json.loads((scenario.home / ".warehouse" / "target" / "run_results.json").read_text())
    kinds = {r["unique_id"].split(".")[0] for r in results["results"]}
    assert {"model", "test", "unit_test"} <= kinds
    assert all(r["status"] in ("success", "pass") for r in results["results"])


def test_every_mart_column_is_documented_and_the_page_is_current(built: Scenario) -> None:
    from warehouse.catalog import marts, splice

    documented = {m["name"]: [c["name"] for c in m.get("columns", [])] for m in marts()}
    for mart, columns in documented.items():
        actual = [
            row[0]
            for row in query(
                built.home,
                "select column_name from information_schema.columns "
                f"where table_schema = 'main' and table_name = '{mart}' order by ordinal_position",
            )
        ]
        assert actual == columns, mart
    page = (Path(__file__).resolve().parents[2] / "docs" / "warehouse.md").read_text()
    assert splice(page) == page, "run: python -m warehouse.catalog and paste into docs/warehouse.md"


def test_a_failed_build_leaves_the_previous_warehouse(scenario: Scenario) -> None:
    assert cli(scenario.home, "build").exit_code == 0
    before = query(scenario.home, "select count(*), sum(requests) from fact_validation_daily")
    broken = scenario.home / "lake" / "ocsp_requests" / "dt=2026-11-20" / "part-broken.parquet"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not parquet at all")
    result = cli(scenario.home, "build")
    assert result.exit_code == 1
    assert "fact_validation_daily" in result.output
    assert (
        query(scenario.home, "select count(*), sum(requests) from fact_validation_daily") == before
    )
    assert not (scenario.home / ".warehouse" / "build").exists()
