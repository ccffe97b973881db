"""The live enterprise of `certsight run`: its certificates from the home's CA, issued once;
its clients in the zones of networks.csv; and their real OCSP and CRL requests to a real
`certsight serve`, down to the LAKE with the simulated addresses and software."""

from __future__ import annotations

import ipaddress
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509

from certsight.ingesting import ingest_home
from ingest.lake import Lake
from pki.identity import key_sha1
from pki.store.base import CertStatus
from simulator.live import LivePopulation, prepare_live_enterprise
from simulator.live.enterprise import REVOKED_HOST, SERVERS, build_clients
from simulator.live.population import MAX_BACKOFF_S, MAX_LAG_S, next_backoff, next_due
from simulator.network import locate
from tests.conftest import free_port, make_home, start_server, utc_now

AUTOMATED = ("acme:", "agent:", "api:", "service:", "cert-manager:")


def _issuance_files(raw: Path) -> set[Path]:
    return set((raw / "issuance").rglob("*.gz"))


def test_clients_are_stable_and_live_in_their_zones() -> None:
    clients = build_clients(SERVERS, seed=1)
    assert clients == build_clients(SERVERS, seed=1)
    assert clients != build_clients(SERVERS, seed=2)
    assert 140 <= len(clients) <= 160
    addresses = [c.ip for c in clients]
    assert len(set(addresses)) == len(addresses)
    assert not set(addresses) & {s.ip for s in SERVERS}  # nobody looks like a stapler
    for client in clients:
        network = locate(client.ip)  # the longest prefix, as the warehouse decides
        if client.zone == "external":
            assert network is None and any(
                ipaddress.ip_address(client.ip) in ipaddress.ip_network(partners)
                for partners in ("198.51.100.0/24", "203.0.113.0/24")
            )
        else:
            assert network is not None and network.zone == client.zone, client.ip
        assert 1 <= len(client.servers) <= 5 and len(set(client.servers)) == len(client.servers)
        assert len(client.weights) == len(client.servers) and min(client.weights) > 0
    for server in SERVERS:
        network = locate(server.ip)
        assert network is not None and network.zone == server.zone, server.host
    used = {i for c in clients for i in c.servers}
    assert used == set(range(len(SERVERS)))
    revoked = next(i for i, s in enumerate(SERVERS) if s.host == REVOKED_HOST)
    assert sum(revoked in c.servers for c in clients) >= 5
    kinds = {c.software.name for c in clients}
    assert kinds == {"cryptoapi", "java", "openssl", "go", "agent", "device"}
    assert {c.software.user_agent for c in clients if c.software.name == "device"} == {None}
    assert any(c.sha256 for c in clients if c.software.name == "openssl")
    assert any(c.nonce for c in clients) and not all(c.nonce for c in clients)


def test_prepare_issues_once_and_revokes_one(tmp_path: Path) -> None:
    made = make_home(tmp_path / "home")
    home = made.home
    first = prepare_live_enterprise(home, clock=utc_now)
    assert set(first.issued) == {s.host for s in SERVERS}
    assert first.revoked == (first.revoked_server.serial,)
    store = made.store()
    issuer_key = key_sha1(first.issuer)
    for server in first.servers:
        certificate = server.certificate
        certificate.verify_directly_issued_by(first.issuer)
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [server.host]
        assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == [server.ip]
        days = (certificate.not_valid_after_utc - certificate.not_valid_before_utc).days
        assert days == server.spec.days  # issued for days, valid from five minutes before
        record = store.get(issuer_key, server.serial)
        assert record is not None and record.requester == server.spec.requester
        expected = CertStatus.revoked if server.host == REVOKED_HOST else CertStatus.good
        assert record.status is expected
        assert (home.certs / "live" / f"{server.host}.pem").exists()
    assert {s.spec.days for s in first.servers} == {30, 47, 90, 200}
    automated = [s for s in first.servers if s.spec.requester.startswith(AUTOMATED)]
    assert len(automated) > len(first.servers) * 3 // 4
    events = _issuance_files(home.raw)

    second = prepare_live_enterprise(home, clock=utc_now)
    assert second.issued == () and second.revoked == ()
    assert [s.serial for s in second.servers] == [s.serial for s in first.servers]
    assert second.clients == first.clients
    assert _issuance_files(home.raw) == events  # no issuance or revocation event either
    store.close()


def test_live_traffic_reaches_the_responder_and_the_lake(tmp_path: Path) -> None:
    made = make_home(tmp_path / "home")
    enterprise = prepare_live_enterprise(made.home, clock=utc_now)
    server = start_server(made, "--trust-viewer-address")  # the population plays the CDN
    population = LivePopulation(server.url, enterprise, rate_per_second=60, seed=3, crl_share=0.3)
    try:
        population.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stats = population.stats.snapshot()
            if (
                stats["ocsp"] >= 60
                and stats["crl"] >= 1
                and stats["by_cert_status"].get("revoked")
                and {"GET", "POST"} <= stats["by_method"].keys()
                and {"sha1", "sha256"} <= stats["by_hash"].keys()
            ):
                break
            time.sleep(0.1)
    finally:
        population.stop()
        assert server.stop() == 0  # SIGTERM: the responder flushes its logs to HOME/raw
    stats = population.stats.snapshot()
    assert stats["errors"] == 0, stats["last_error"]
    assert stats["ocsp"] >= 60 and stats["crl"] >= 1
    assert set(stats["by_http_status"]) == {200}
    assert stats["by_response_status"] == {"successful": stats["ocsp"]}
    assert stats["by_cert_status"]["revoked"] >= 1 and stats["by_cert_status"]["good"] >= 1
    assert "unknown" not in stats["by_cert_status"]

    ingest_home(made.home)
    lake = Lake.at(str(made.home.lake))
    rows = lake.read("ocsp_requests").to_pylist()
    assert len(rows) == stats["ocsp"]
    clients = {c.ip: c for c in enterprise.clients}
    assert {r["client_ip"] for r in rows} <= clients.keys()  # never 127.0.0.1
    for row in rows:
        client = clients[row["client_ip"]]
        assert row["user_agent"] == client.user_agent
        assert row["http_method"] == client.software.method
        assert row["hash_algorithm"] == ("sha256" if client.sha256 else "sha1")
        assert row["nonce"] is client.nonce
        assert row["issuer_key_sha1"] == key_sha1(enterprise.issuer)
        if row["http_method"] == "GET":
            encoded = row["path"].removeprefix("/ocsp/")
            if client.software.escaped:  # Java, the agent: %2F %2B %3D
                assert not set(encoded) & set("/+=")
            else:  # CryptoAPI: raw base64, '/' and all
                assert "%" not in encoded
    assert any(r["user_agent"] for r in rows)
    assert {r["hash_algorithm"] for r in rows} == {"sha1", "sha256"}
    assert {r["http_method"] for r in rows} == {"GET", "POST"}
    revoked = [r for r in rows if r["cert_status"] == "revoked"]
    assert revoked and {r["serial"] for r in revoked} == {enterprise.revoked_server.serial}
    fetches = lake.read("crl_fetches").to_pylist()
    assert len(fetches) == stats["crl"]
    assert {r["crl_name"] for r in fetches} == {"issuing-ca"}
    assert {clients[r["client_ip"]].software.name for r in fetches} <= {"cryptoapi"}


def test_a_dead_responder_is_counted_and_retried_slowly(tmp_path: Path) -> None:
    made = make_home(tmp_path / "home")
    enterprise = prepare_live_enterprise(made.home, clock=utc_now)
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    population = LivePopulation(nobody, enterprise, rate_per_second=200)
    thread = population.start()
    deadline = time.monotonic() + 20
    while population.stats.snapshot()["sent"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    population.stop()
    assert not thread.is_alive()  # a stop interrupts the back-off wait
    stats = population.stats.snapshot()
    assert stats["errors"] == stats["sent"] >= 2
    assert "ConnectionRefusedError" in (stats["last_error"] or "")


def test_failures_back_off_doubling_up_to_a_ceiling() -> None:
    waits = [next_backoff(0.0)]
    while len(waits) < 10:
        waits.append(next_backoff(waits[-1]))
    assert waits[:4] == [0.1, 0.2, 0.4, 0.8]  # not 200 requests a second at a dead server
    assert max(waits) == MAX_BACKOFF_S == waits[-1]


def test_certificates_past_two_thirds_of_their_life_are_renewed(tmp_path: Path) -> None:
    made = make_home(tmp_path / "home")
    first = prepare_live_enterprise(made.home, clock=utc_now)
    later = utc_now() + timedelta(days=25)  # past 2/3 of 30 days, not of 47 or more
    renewed = prepare_live_enterprise(made.home, clock=lambda: later)
    short = {s.host for s in SERVERS if s.days == 30}
    assert set(renewed.issued) == short and renewed.revoked == ()
    before = {s.host: s.serial for s in first.servers}
    for server in renewed.servers:
        assert (server.serial != before[server.host]) is (server.host in short)
        if server.host in short:
            archived = made.home.certs / "live" / "archive" / f"{server.host}-{before[server.host]}"
            assert Path(f"{archived}.pem").exists() and Path(f"{archived}.key").exists()
    assert prepare_live_enterprise(made.home, clock=lambda: later).issued == ()


class _ClosesSilently(BaseHTTPRequestHandler):
    """Answers 404 and drops the connection without saying so, as a server's idle
    timeout does between two requests."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()
        self.close_connection = True

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_connection_closed_by_the_server_is_reopened(tmp_path: Path) -> None:
    made = make_home(tmp_path / "home")
    enterprise = prepare_live_enterprise(made.home, clock=utc_now)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ClosesSilently)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        population = LivePopulation(
            f"http://127.0.0.1:{httpd.server_address[1]}", enterprise, rate_per_second=100
        )
        population.start()
        deadline = time.monotonic() + 10
        while population.stats.snapshot()["sent"] < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        population.stop()
    finally:
        httpd.shutdown()
        httpd.server_close()
    stats = population.stats.snapshot()
    assert stats["sent"] >= 20 and stats["errors"] == 0, stats["last_error"]
    assert stats["by_http_status"] == {404: stats["sent"]}


def test_pacing_keeps_the_rate_and_drops_a_backlog_instead_of_bursting() -> None:
    """The schedule, on a clock the test holds (no wall-clock timing)."""
    interval = 1 / 60
    assert next_due(10.0, interval, now=10.0) == pytest.approx(10.0 + interval)
    # a little behind: catch up at the rate, one interval at a time
    assert next_due(10.0, interval, now=10.5) == pytest.approx(10.0 + interval)
    # more than MAX_LAG_S behind: start again from now, no burst of missed requests
    assert next_due(10.0, interval, now=10.0 + MAX_LAG_S + 0.5) == 10.0 + MAX_LAG_S + 0.5
    # a whole run on that clock: 60 requests per second, never more
    due, sent, now = 0.0, 0, 0.0
    while now < 5.0:
        if due <= now:
            sent += 1
            due = next_due(due, interval, now)
        now += 0.001
    assert 299 <= sent <= 301
