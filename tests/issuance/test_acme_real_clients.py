"""certsight's own ACME directory, driven by the clients enterprises run: certbot, lego
and dehydrated (tests/acme_clients.py, proven against pebble in
test_acme_clients_harness.py).

One `certsight serve issuance` on 127.0.0.1 with its ACME directory, EAB required, the
http-01 validator pointed (``CERTSIGHT_ACME_HTTP01_PORT``) at the port the clients'
own challenge servers listen on, dns-01 and names resolved by pebble-challtestsrv, and
`certsight serve` answering OCSP for what it issues.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from issuance.early_renewal import EarlyRenewals, Source
from issuance.runtime import open_state
from issuance.settings import EarlyRenewalSettings
from pki.serials import serial_hex
from pki.store.sqlite import SqliteStore
from tests.acme_clients import (
    AcmeTarget,
    Certbot,
    ClientFailed,
    Dehydrated,
    Eab,
    Issued,
    Lego,
    certbot_dns_hooks,
)
from tests.acme_servers import ChallTestSrv, running_challtestsrv
from tests.conftest import PkiHome, RunningServer, free_port, make_home, start_server
from tests.issuance.support import utc_now

pytestmark = pytest.mark.slow  # real clients against a real server: seconds each

ALLOWED = "**.clients.corp.example"  # the EAB account's policy
SETTINGS = """
[issuance]
domains = ["corp.example"]

[acme]
resolvers = ["127.0.0.1:{dns_port}"]
validation_timeout_seconds = 5
validation_attempts = 2
"""


def create_eab(home: PkiHome, name: str, allow: str) -> Eab:
    """An EAB key as an operator makes one (the interface of issue 14)."""
    command = ["acme", "eab", "create", "--name", name, "--allow", allow, "--format", "json"]
    made = subprocess.run(
        [sys.executable, "-m", "certsight.cli", *command],
        env={**os.environ, "CERTSIGHT_HOME": str(home.home.root)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    found = json.loads(made.stdout)
    return Eab(found["kid"], found["hmac_key"])


@dataclass
class Site:
    url: str
    home: PkiHome
    responders: RunningServer
    dns: ChallTestSrv
    target: AcmeTarget

    @property
    def root(self) -> Path:
        return self.home.home.pki.root_cert


def _wait_for_directory(process: subprocess.Popen[bytes], url: str, root: Path, log: Path) -> None:
    deadline = time.monotonic() + 60  # a bound for a stuck start, not a speed claim
    while True:
        if process.poll() is not None:
            pytest.fail(f"serve issuance exited: {log.read_text()}")
        try:
            tls = ssl.create_default_context(cafile=str(root))
            if httpx.get(url, verify=tls, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                pytest.fail(f"serve issuance did not start: {log.read_text()}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("acme-clients")
    responder_port = free_port()
    home = make_home(root / "home", port=responder_port)
    responders = start_server(home, port=responder_port)
    process: subprocess.Popen[bytes] | None = None
    try:
        with running_challtestsrv(root / "dns") as dns:
            home.home.settings_file.write_text(SETTINGS.format(dns_port=dns.dns_port))
            http_port, port = free_port(), free_port()
            log = root / "issuance.stderr"
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "certsight.cli",
                        "serve",
                        "issuance",
                        "--port",
                        f"{port}",
                    ],
                    env={
                        **os.environ,
                        "CERTSIGHT_HOME": str(home.home.root),
                        "CERTSIGHT_ACME_HTTP01_PORT": str(http_port),
                    },
                    stdout=subprocess.DEVNULL,
                    stderr=sink,
                )
            url = f"https://127.0.0.1:{port}"
            _wait_for_directory(process, f"{url}/acme/directory", home.home.pki.root_cert, log)
            eab = create_eab(home, "clients", ALLOWED)
            target = AcmeTarget(f"{url}/acme/directory", home.home.pki.root_cert, http_port, eab)
            yield Site(url, home, responders, dns, target)
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        responders.stop()


def names_of(certificate: x509.Certificate) -> list[str]:
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName)


def ocsp_status(site: Site, leaf: Path) -> str:
    """``openssl ocsp`` against certsight's responder: its status line for the leaf."""
    done = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            str(site.home.home.pki.issuing_cert),
            "-cert",
            str(leaf),
            "-url",
            f"{site.responders.url}/ocsp",
            "-CAfile",
            str(site.root),
            "-no_nonce",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr


def assert_verified_and_good(site: Site, issued: Issued) -> None:
    """Chains to the home CA (``openssl verify``) and OCSP says good."""
    verified = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(site.root),
            "-untrusted",
            str(issued.fullchain),
            str(issued.certificate),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    status = ocsp_status(site, issued.certificate)
    assert f"{issued.certificate}: good" in status, status


def test_certbot_http01_standalone(site: Site, tmp_path: Path) -> None:
    name = "certbot-http.clients.corp.example"
    site.dns.add_a(name)
    issued = Certbot(site.target, tmp_path / "certbot").certonly_http([name])
    assert names_of(issued.leaf()) == [name]
    assert_verified_and_good(site, issued)


def test_certbot_dns01_through_a_manual_hook(site: Site, tmp_path: Path) -> None:
    name = "certbot-dns.clients.corp.example"
    hooks = certbot_dns_hooks(tmp_path / "hooks", site.dns.management_url)
    issued = Certbot(site.target, tmp_path / "certbot").certonly_dns([name], hooks)
    assert names_of(issued.leaf()) == [name]
    assert_verified_and_good(site, issued)


def test_certbot_forced_renewal_gives_a_new_key(site: Site, tmp_path: Path) -> None:
    name = "certbot-force.clients.corp.example"
    site.dns.add_a(name)
    certbot = Certbot(site.target, tmp_path / "certbot")
    first = certbot.certonly_http([name])
    serial, key = first.leaf().serial_number, first.key_pem()
    forced = certbot.renew(name, force=True)
    assert forced.renewed, forced.output
    renewed = certbot.live(name)
    assert renewed.leaf().serial_number != serial and renewed.key_pem() != key
    assert_verified_and_good(site, renewed)


def test_certbot_renews_when_ari_moves_the_window(site: Site, tmp_path: Path) -> None:
    """A plain `certbot renew` asks renewalInfo: not due while the profile's window lies
    ahead; due once an analyst's early-renewal flag has moved it. The flag is written
    as `certsight renew-early` writes it, dated two hours back, so the moved window has
    already passed whichever moment certbot picks inside it (certbot renews once that
    random moment is past)."""
    name = "certbot-ari.clients.corp.example"
    site.dns.add_a(name)
    certbot = Certbot(site.target, tmp_path / "certbot")
    first = certbot.certonly_http([name]).leaf()  # the live files change on renewal
    waiting = certbot.renew(name)
    assert not waiting.renewed, waiting.output
    store = SqliteStore(site.home.home.pki.store)
    record = store.find_serial(serial_hex(first.serial_number))[0]
    store.close()
    state = open_state(site.home.home.issuance)
    try:
        two_hours_ago = utc_now() - timedelta(hours=2)
        EarlyRenewals(state, EarlyRenewalSettings(), lambda: two_hours_ago).flag(
            record, Source.analyst, "host reinstalled; key may have been copied", "tests"
        )
    finally:
        state.close()
    # certbot asks renewalInfo again once the Retry-After of its last answer has passed
    certbot.forget_ari_retry_after(name)
    due = certbot.renew(name)
    assert due.renewed, due.output
    assert certbot.live(name).leaf().serial_number != first.serial_number


def test_lego_http01(site: Site, tmp_path: Path) -> None:
    name = "lego.clients.corp.example"
    site.dns.add_a(name)
    issued = Lego(site.target, tmp_path / "lego").run_http([name])
    assert names_of(issued.leaf()) == [name]
    assert_verified_and_good(site, issued)


def test_dehydrated_http01(site: Site, tmp_path: Path) -> None:
    name = "dehydrated.clients.corp.example"
    site.dns.add_a(name)
    issued = Dehydrated(site.target, tmp_path / "dehydrated").issue_http([name])
    assert names_of(issued.leaf()) == [name]
    assert_verified_and_good(site, issued)


def test_a_revocation_through_acme_reaches_ocsp(site: Site, tmp_path: Path) -> None:
    name = "certbot-revoke.clients.corp.example"
    site.dns.add_a(name)
    certbot = Certbot(site.target, tmp_path / "certbot")
    issued = certbot.certonly_http([name])
    certbot.revoke(name, "keycompromise")
    # Issue 14: revoked through ACME, OCSP says so within 5 seconds. A bounded wait
    # (the responders pick store changes up within about a second), not a measurement.
    deadline = datetime.now() + timedelta(seconds=5)
    status = ocsp_status(site, issued.certificate)
    while ": revoked" not in status and datetime.now() < deadline:
        time.sleep(0.2)
        status = ocsp_status(site, issued.certificate)
    assert f"{issued.certificate}: revoked" in status, status
    assert "Reason: keyCompromise" in status, status


def test_a_name_outside_the_accounts_policy_is_rejected(site: Site, tmp_path: Path) -> None:
    name = "elsewhere.corp.example"  # in [issuance] domains, not in the EAB's allow
    site.dns.add_a(name)
    with pytest.raises(ClientFailed) as refused:
        Certbot(site.target, tmp_path / "certbot").certonly_http([name])
    assert "urn:ietf:params:acme:error:rejectedIdentifier" in refused.value.output
