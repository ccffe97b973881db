"""The real-client harness (tests/acme_clients.py) proven against a known-good ACME
server: Debian's pebble, with External Account Binding required, on 127.0.0.1.

Each client issues one certificate the way an operator runs it: certbot with http-01 in
standalone mode and with dns-01 through manual hooks, lego and dehydrated with http-01.
pebble-challtestsrv is the DNS pebble's validator asks (names point at 127.0.0.1, TXT
records set by certbot's hook), and pebble connects for http-01 to the port the clients
listen on. When the certsight ACME server's own client tests fail, these say whether
the harness or the server is at fault.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

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
from tests.acme_servers import (
    ChallTestSrv,
    Pebble,
    free_port,
    running_challtestsrv,
    running_pebble,
)

pytestmark = pytest.mark.slow  # real clients against a real ACME server: seconds each

EAB = Eab("harness-kid", base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())


@pytest.fixture(scope="module")
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChallTestSrv]:
    with running_challtestsrv(tmp_path_factory.mktemp("harness-dns")) as server:
        yield server


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory, dns: ChallTestSrv) -> Iterator[Pebble]:
    with running_pebble(
        tmp_path_factory.mktemp("harness-pebble"),
        dns,
        http_port=free_port(),
        eab_keys={EAB.kid: EAB.hmac_key},
    ) as server:
        yield server


@pytest.fixture
def target(pebble: Pebble) -> AcmeTarget:
    return AcmeTarget(pebble.directory, pebble.tls_ca, pebble.http_port, EAB)


def names_of(certificate: x509.Certificate) -> list[str]:
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName)


def assert_chains_to_pebble(issued: Issued, pebble: Pebble, folder: Path) -> None:
    """``openssl verify`` from the leaf through the client's chain to pebble's root."""
    folder.mkdir(parents=True, exist_ok=True)
    root, chain = folder / "root.pem", folder / "chain.pem"
    root.write_bytes(pebble.root_pem())
    chain.write_bytes(issued.fullchain.read_bytes())
    verified = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(root),
            "-untrusted",
            str(chain),
            str(issued.certificate),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_certbot_http01_standalone(
    target: AcmeTarget, dns: ChallTestSrv, pebble: Pebble, tmp_path: Path
) -> None:
    name = "certbot-http.harness.test"
    dns.add_a(name)
    issued = Certbot(target, tmp_path / "certbot").certonly_http([name])
    assert names_of(issued.leaf()) == [name]
    assert issued.key.exists()
    assert_chains_to_pebble(issued, pebble, tmp_path / "verify")


def test_certbot_dns01_through_manual_hooks(
    target: AcmeTarget, dns: ChallTestSrv, pebble: Pebble, tmp_path: Path
) -> None:
    """No A record and nothing listening: only the TXT record the hook sets can pass."""
    name = "certbot-dns.harness.test"
    hooks = certbot_dns_hooks(tmp_path / "hooks", dns.management_url)
    issued = Certbot(target, tmp_path / "certbot").certonly_dns([name], hooks)
    assert names_of(issued.leaf()) == [name]
    assert_chains_to_pebble(issued, pebble, tmp_path / "verify")


def test_certbot_renews_only_when_forced_here_and_with_a_new_key(
    target: AcmeTarget, dns: ChallTestSrv, tmp_path: Path
) -> None:
    """pebble 2.4 offers no renewalInfo, and its certificates last years: a plain renew
    leaves the certificate alone; a forced one replaces it and its key."""
    name = "certbot-renew.harness.test"
    dns.add_a(name)
    certbot = Certbot(target, tmp_path / "certbot")
    first = certbot.certonly_http([name])
    first_serial, first_key = first.leaf().serial_number, first.key_pem()
    plain = certbot.renew(name)
    assert not plain.renewed, plain.output
    assert "not yet due for renewal" in plain.output
    forced = certbot.renew(name, force=True)
    assert forced.renewed, forced.output
    after = certbot.live(name)
    assert after.leaf().serial_number != first_serial
    assert after.key_pem() != first_key


def test_certbot_revokes_with_its_account_key(
    target: AcmeTarget, dns: ChallTestSrv, pebble: Pebble, tmp_path: Path
) -> None:
    name = "certbot-revoke.harness.test"
    dns.add_a(name)
    certbot = Certbot(target, tmp_path / "certbot")
    issued = certbot.certonly_http([name])
    assert pebble.cert_status(issued.leaf())["Status"] == "Valid"
    certbot.revoke(name)
    assert pebble.cert_status(issued.leaf())["Status"] == "Revoked"


def test_lego_http01(target: AcmeTarget, dns: ChallTestSrv, pebble: Pebble, tmp_path: Path) -> None:
    name = "lego.harness.test"
    dns.add_a(name)
    issued = Lego(target, tmp_path / "lego").run_http([name])
    assert names_of(issued.leaf()) == [name]
    assert_chains_to_pebble(issued, pebble, tmp_path / "verify")


def test_dehydrated_http01(
    target: AcmeTarget, dns: ChallTestSrv, pebble: Pebble, tmp_path: Path
) -> None:
    name = "dehydrated.harness.test"
    dns.add_a(name)
    issued = Dehydrated(target, tmp_path / "dehydrated").issue_http([name])
    assert names_of(issued.leaf()) == [name]
    assert_chains_to_pebble(issued, pebble, tmp_path / "verify")


def test_a_failing_client_shows_what_it_said(target: AcmeTarget, tmp_path: Path) -> None:
    """A name nobody resolves fails validation; the error carries the client's output."""
    with pytest.raises(ClientFailed) as failed:
        Lego(target, tmp_path / "lego").run_http(["nowhere.harness.test"])
    assert failed.value.returncode != 0
    assert "nowhere.harness.test" in failed.value.output
    assert "lego" in str(failed.value)
