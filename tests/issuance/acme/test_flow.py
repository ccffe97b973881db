"""The whole ACME flow with the ``acme`` library's own client against
``certsight serve issuance``: EAB account, order, http-01 and dns-01 validated through
loopback servers (and tls-alpn-01), finalize, the chain checked by ``openssl verify`` and the
certificate answered ``good`` by certsight's OCSP responder, then revoked."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from acme import client, messages
from acme import errors as acme_errors
from cryptography import x509

from tests.issuance.acme.support import (
    AcmeServer,
    acme_client,
    as_raw,
    key_authorization,
    make_csr,
    obtain,
)

pytestmark = pytest.mark.slow


def ocsp_status(server: AcmeServer, leaf: Path) -> str:
    done = subprocess.run(
        [
            "openssl",
            "ocsp",
            "-issuer",
            str(server.home.home.pki.issuing_cert),
            "-cert",
            str(leaf),
            "-url",
            f"{server.responders.url}/ocsp",
            "-CAfile",
            str(server.root),
            "-no_nonce",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def split_chain(fullchain: str) -> list[str]:
    marker = "-----END CERTIFICATE-----"
    return [part + marker + "\n" for part in fullchain.split(marker) if part.strip()]


def test_http01_order_issues_a_chain_that_verifies_and_ocsp_says_good(
    acme_server: AcmeServer, tmp_path: Path
) -> None:
    acme = acme_client(acme_server)
    order, _key = obtain(acme_server, acme, ["web1.acme.corp.example"])
    parts = split_chain(order.fullchain_pem)
    assert len(parts) >= 2  # the leaf and the issuing CA at least
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(parts[0])
    chain = tmp_path / "chain.pem"
    chain.write_text("".join(parts[1:]))
    verified = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(acme_server.root),
            "-untrusted",
            str(chain),
            str(leaf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    certificate = x509.load_pem_x509_certificate(parts[0].encode())
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["web1.acme.corp.example"]
    assert ": good" in ocsp_status(acme_server, leaf)
    # the validator asked for the identifier by name on the configured port
    assert "web1.acme.corp.example" in acme_server.challenges.hosts


def test_dns01_order_and_revocation_reach_ocsp(acme_server: AcmeServer, tmp_path: Path) -> None:
    acme = acme_client(acme_server)
    order, _key = obtain(acme_server, acme, ["*.dns.acme.corp.example"], kind="dns-01")
    leaf_pem = split_chain(order.fullchain_pem)[0]
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(leaf_pem)
    assert ": good" in ocsp_status(acme_server, leaf)
    acme.revoke(x509.load_pem_x509_certificate(leaf_pem.encode()), 1)
    deadline = time.monotonic() + 60  # bounds a stuck test; not a speed claim
    text = ocsp_status(acme_server, leaf)
    while ": revoked" not in text and time.monotonic() < deadline:
        time.sleep(0.2)
        text = ocsp_status(acme_server, leaf)
    assert ": revoked" in text and "keyCompromise" in text, text


def _is_alpn(challenge: messages.ChallengeBody) -> bool:
    """The library no longer models tls-alpn-01: it arrives as an UnrecognizedChallenge."""
    return getattr(challenge.chall, "jobj", {}).get("type") == "tls-alpn-01"


def _alpn_order(
    server: AcmeServer, name: str, *, critical: bool
) -> tuple[client.ClientV2, messages.OrderResource]:
    acme = acme_client(server)
    csr, _ = make_csr([name])
    order = acme.new_order(csr)
    challenge = next(c for c in order.authorizations[0].body.challenges if _is_alpn(c))
    token = str(challenge.chall.jobj["token"])
    server.dns.add_a(name)
    server.alpn.answer(name, key_authorization(token, acme), critical=critical)
    started = as_raw(server, acme).post(challenge.uri, {})
    assert started.status_code == 200, started.text
    return acme, order


def test_tls_alpn01_order_issues(acme_server: AcmeServer) -> None:
    acme, order = _alpn_order(acme_server, "alpn.acme.corp.example", critical=True)
    done = acme.poll_and_finalize(order, datetime.now() + timedelta(seconds=90))
    assert "BEGIN CERTIFICATE" in done.fullchain_pem
    assert "alpn.acme.corp.example" in acme_server.alpn.served  # SNI was the name


def test_tls_alpn01_with_a_non_critical_extension_fails(acme_server: AcmeServer) -> None:
    acme, order = _alpn_order(acme_server, "alpn-bad.acme.corp.example", critical=False)
    with pytest.raises(acme_errors.ValidationError) as failed:
        acme.poll_authorizations(order, datetime.now() + timedelta(seconds=60))
    body = failed.value.failed_authzrs[0].body
    error = next(c for c in body.challenges if _is_alpn(c)).error
    assert error is not None and error.code == "incorrectResponse", error
