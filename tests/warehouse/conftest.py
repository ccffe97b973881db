"""A small enterprise written straight into a LAKE, with every number known in advance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from certsight.cli import main
from tests.warehouse.lakefixture import Issuer, LakeWriter

START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 12
CA = Issuer.make("Corp Issuing CA 1")
NETWORKS = (
    "cidr,zone,site,owner\n"
    "10.0.0.0/8,corp,hq,it\n"
    "10.20.0.0/16,datacenter,dc1,ops\n"
    "10.20.5.0/24,pci,dc1,payments\n"
)


@dataclass(frozen=True)
class Scenario:
    home: Path
    writer: LakeWriter


def write_enterprise(writer: LakeWriter) -> None:
    """Three servers, three office-hours clients, a stapler, and one incident of each kind
    that hand-made data can show exactly:

    - www.corp (10.20.0.1) renews on day 6 (serial 0101 -> 0102); 10.1.0.5 validates it all
      along, with SHA-1 and, from day 6, SHA-256 CertIDs;
    - api.corp: 10.1.0.6 validates it through the CDN, misses answered by the responder
      (both logs, one request);
    - pay.corp (10.20.5.9): 10.1.0.7 validates it; it staples from its own address;
    - day 9: 10.1.0.5 starts validating pay.corp (new_edge, corp -> pci);
    - day 10: serial 0bad of the known CA, not in the inventory (unknown_certificate) and a
      CertID of a CA nobody knows (unknown_issuer);
    - old.corp's certificate expired on day 3, still validated on day 8
      (expired_certificate_validated); 0101 is revoked (keyCompromise) on day 7 and a client
      still validates it on day 9 (revoked_certificate_validated).
    """
    day = timedelta(days=1)
    www_sans = ["www.corp", "10.20.0.1"]
    writer.issuer(CA, START)
    writer.certificate(CA, "0101", "www.corp", START - 20 * day, 47, sans=www_sans)
    writer.certificate(CA, "0102", "www.corp", START + 6 * day, 47, sans=www_sans)
    # expires on day 17; a 24-day certificate is overdue for renewal only from day 13
    writer.certificate(CA, "0201", "api.corp", START - 7 * day, 24)
    writer.certificate(CA, "0301", "pay.corp", START - 10 * day, 47, sans=["pay.corp", "10.20.5.9"])
    writer.certificate(CA, "0401", "old.corp", START - 45 * day, 47, requester="alice")
    writer.revocation(CA, "0101", START + timedelta(days=7), "keyCompromise")
    for n in range(DAYS):
        www = "0101" if n < 6 else "0102"
        for hour in range(8, 18):
            at = START + timedelta(days=n, hours=hour, minutes=5)
            writer.request(at, "10.1.0.5", CA, www, hash_algorithm="sha1" if hour % 2 else "sha256")
            hit = hour % 3 != 0
            java = "Java/17.0.9"
            cf_id = writer.request(at, "10.1.0.6", CA, "0201", cache_hit=hit, user_agent=java)
            if not hit:
                writer.request(at, "13.32.0.1", CA, "0201", source="lambda", cf_request_id=cf_id)
            writer.request(at, "10.1.0.7", CA, "0301", user_agent="Go-http-client/1.1")
        for hour in range(24):
            at = START + timedelta(days=n, hours=hour, minutes=1)
            writer.request(at, "10.20.5.9", CA, "0301", source="lambda", user_agent="nginx")
        nine = START + timedelta(days=n, hours=9)
        writer.crl_fetch(nine, "10.1.0.5", "issuing-ca")
        writer.download(nine, "10.1.0.8", "agent", "certsight-agent", "1.4.2")
    for hour in (10, 11, 12):
        writer.request(START + timedelta(days=9, hours=hour), "10.1.0.5", CA, "0301")
    writer.request(START + timedelta(days=10, hours=3), "10.1.0.9", CA, "0bad")
    stranger = "ab" * 20
    writer.request(
        START + timedelta(days=10, hours=4), "10.1.0.9", None, "05", issuer_key_hash=stranger
    )
    writer.request(START + timedelta(days=8, hours=10), "10.1.0.5", CA, "0401")
    writer.request(START + timedelta(days=9, hours=10), "10.1.0.66", CA, "0101")


def make_scenario(root: Path) -> Scenario:
    home = root / "home"
    writer = LakeWriter(home / "lake")
    write_enterprise(writer)
    writer.flush()
    (home / "networks.csv").write_text(NETWORKS)
    return Scenario(home, writer)


def built_scenario(root: Path) -> Scenario:
    """The enterprise after one full `certsight build`, for tests that only read it."""
    scenario = make_scenario(root)
    result = CliRunner().invoke(main, ["build", "--home", str(scenario.home)])
    assert result.exit_code == 0, result.output
    assert "full build" in result.output
    return scenario


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return make_scenario(tmp_path)
