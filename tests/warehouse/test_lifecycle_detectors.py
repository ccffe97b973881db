"""The lifecycle detectors end to end: a hand-made LAKE where certificates are renewed and
deployed (or not), `certsight build`, and what `certsight alerts` then says.

Ten days of office-hours traffic from 1 November 2026 (the warehouse's "now" is the last
request, on 10 November at 17:05):

- renew.corp is renewed on day 3 and both its clients stay on the old serial: not deployed;
- pool.corp is renewed on day 2; one instance of its pool still presents the old
  certificate: three of the client's ten requests a day stay on the old serial;
- smooth.corp is renewed on day 4 at 09:00 and its client moves at 14:00: benign;
- expiring.corp expires on day 13, past its renewal point, no successor, two clients;
- handed.corp is as old but was renewed on day 5 and its client moved: nothing;
- fresh.corp's certificate is young: nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from certsight.cli import main
from tests.warehouse.lakefixture import Issuer, LakeWriter

START = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)
DAYS = 10
CA = Issuer.make("Lifecycle Issuing CA")
NETWORKS = "cidr,zone,site,owner\n10.1.0.0/16,corp,hq,it\n10.20.5.0/24,pci,dc1,payments\n"


def _office_hours(
    writer: LakeWriter, client: str, serial_at: Callable[[datetime], str], days: range
) -> None:
    """One request an hour, 08:05 to 17:05, naming the serial ``serial_at(moment)``."""
    for n in days:
        for hour in range(8, 18):
            at = START + n * DAY + timedelta(hours=hour, minutes=5)
            writer.request(at, client, CA, serial_at(at))


def write_lifecycle(writer: LakeWriter) -> None:
    writer.issuer(CA, START)
    writer.certificate(CA, "a1", "renew.corp", START - 60 * DAY, 90)
    writer.certificate(CA, "a2", "renew.corp", START + 3 * DAY, 90)
    writer.certificate(CA, "b1", "pool.corp", START - 60 * DAY, 90)
    writer.certificate(CA, "b2", "pool.corp", START + 2 * DAY, 90)
    writer.certificate(CA, "c1", "smooth.corp", START - 60 * DAY, 90)
    writer.certificate(CA, "c2", "smooth.corp", START + 4 * DAY + timedelta(hours=9), 90)
    writer.certificate(CA, "e1", "expiring.corp", START - 77 * DAY, 90)
    writer.certificate(CA, "h1", "handed.corp", START - 77 * DAY, 90)
    writer.certificate(CA, "h2", "handed.corp", START + 5 * DAY, 90)
    writer.certificate(CA, "f1", "fresh.corp", START - 20 * DAY, 90)
    every_day = range(DAYS)
    for client in ("10.1.0.5", "10.20.5.7"):
        _office_hours(writer, client, lambda at: "a1", every_day)
    # the instance answering at 08:05, 12:05 and 16:05 still has the old certificate
    _office_hours(
        writer,
        "10.1.0.6",
        lambda at: "b1" if at < START + 2 * DAY or at.hour % 4 == 0 else "b2",
        every_day,
    )
    smooth_switch = START + 4 * DAY + timedelta(hours=14)
    _office_hours(writer, "10.1.0.7", lambda at: "c1" if at < smooth_switch else "c2", every_day)
    for client in ("10.1.0.8", "10.20.5.9"):
        _office_hours(writer, client, lambda at: "e1", every_day)
    _office_hours(writer, "10.1.0.9", lambda at: "h1" if at < START + 5 * DAY else "h2", every_day)
    _office_hours(writer, "10.1.0.10", lambda at: "f1", every_day)


def cli(home: Path, *args: str) -> Any:
    return CliRunner().invoke(main, [args[0], "--home", str(home), *args[1:]])


def alerts(home: Path, *options: str) -> list[dict[str, Any]]:
    result = cli(home, "alerts", "--format", "json", *options)
    assert result.exit_code == 0, result.output
    found: list[dict[str, Any]] = json.loads(result.output)
    return found


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LakeWriter]:
    home = tmp_path_factory.mktemp("lifecycle") / "home"
    writer = LakeWriter(home / "lake")
    write_lifecycle(writer)
    writer.flush()
    (home / "networks.csv").write_text(NETWORKS)
    result = cli(home, "build")
    assert result.exit_code == 0, result.output
    return home, writer


def test_renewals_not_deployed_and_expiry_risks_are_the_only_alerts(
    lifecycle: tuple[Path, LakeWriter],
) -> None:
    home, _ = lifecycle
    found = sorted((a["detector"], a["server"], a["serial"], a["severity"]) for a in alerts(home))
    assert found == [
        ("expiry_outage_risk", "expiring.corp", "e1", "high"),
        ("renewal_not_deployed", "pool.corp", "b1", "medium"),
        ("renewal_not_deployed", "renew.corp", "a1", "medium"),
    ]


def test_a_renewal_deployed_nowhere_names_its_clients(lifecycle: tuple[Path, LakeWriter]) -> None:
    home, _ = lifecycle
    found = {a["server"]: a for a in alerts(home, "--detector", "renewal_not_deployed")}
    alert = found["renew.corp"]
    evidence = alert["evidence"]
    assert evidence["deployment"] == "none"
    assert evidence["successor_serial"] == "a2"
    assert evidence["share_on_old"] == 1
    assert evidence["clients_on_old"] == 2 and evidence["clients_on_successor"] == 0
    assert {c["zone"]: c["clients"] for c in evidence["clients_on_old_by_zone"]} == {
        "corp": 1,
        "pci": 1,
    }
    assert evidence["grace_hours"] == 24
    # due a day after the successor's notBefore: days 4 to 9, ten requests a day per client
    assert alert["first_seen"] == "2026-11-05T08:05:00Z"
    assert alert["count"] == 2 * 6 * 10


def test_a_partial_deployment_reports_the_share_still_on_the_old_serial(
    lifecycle: tuple[Path, LakeWriter],
) -> None:
    home, _ = lifecycle
    found = {a["server"]: a for a in alerts(home, "--detector", "renewal_not_deployed")}
    evidence = found["pool.corp"]["evidence"]
    assert evidence["deployment"] == "partial"
    assert evidence["share_on_old"] == 0.3  # 3 of 10 requests a day, days 3 to 9
    assert evidence["old_requests_after_due"] == 21
    assert evidence["successor_requests_after_due"] == 49
    assert evidence["clients_on_both"] == 1
    assert evidence["sample_clients_on_old"][0]["client_ip"] == "10.1.0.6"


def test_an_expiry_risk_names_the_clients_that_will_break_and_the_days_left(
    lifecycle: tuple[Path, LakeWriter],
) -> None:
    home, _ = lifecycle
    (alert,) = alerts(home, "--detector", "expiry_outage_risk")
    evidence = alert["evidence"]
    assert evidence["successor_serial"] is None
    assert {c["client_ip"]: c["zone"] for c in evidence["clients_that_will_break"]} == {
        "10.1.0.8": "corp",
        "10.20.5.9": "pci",
    }
    # notAfter on 14 November 00:00, the newest request on 10 November at 17:05
    assert evidence["days_left"] == pytest.approx(3.29, abs=0.01)
    assert evidence["not_after"].startswith("2026-11-14")


def test_a_deployed_successor_clears_the_expiry_risk(tmp_path: Path) -> None:
    home = tmp_path / "home"
    writer = LakeWriter(home / "lake")
    write_lifecycle(writer)
    writer.flush()
    (home / "networks.csv").write_text(NETWORKS)
    assert cli(home, "build").exit_code == 0
    assert [a["serial"] for a in alerts(home, "--detector", "expiry_outage_risk")] == ["e1"]
    # day 10: expiring.corp is renewed at midnight and both clients move to the successor
    writer.certificate(CA, "e2", "expiring.corp", START + DAYS * DAY, 90)
    for client in ("10.1.0.8", "10.20.5.9"):
        _office_hours(writer, client, lambda at: "e2", range(DAYS, DAYS + 1))
    writer.flush()
    result = cli(home, "build")
    assert result.exit_code == 0, result.output
    assert alerts(home, "--detector", "expiry_outage_risk") == []
    cleared = alerts(home, "--detector", "expiry_outage_risk", "--status", "cleared")
    assert [a["serial"] for a in cleared] == ["e1"]
