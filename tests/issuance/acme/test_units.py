"""The ACME server's parts that need no server: settings, certIDs, nonces, EAB keys."""

from __future__ import annotations

import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from acme import messages
from acme.client import _renewal_info_path_component
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certsight.settings import CertsightSettings, SettingsError
from issuance.acme.ari import cert_id, parse_cert_id
from issuance.acme.eab import EabError, EabKeys
from issuance.acme.problems import AcmeError
from issuance.acme.resources import authz_status, order_status
from issuance.acme.settings import AcmeSettings, parse_resolver
from issuance.acme.store import AcmeStore
from issuance.acme.validation import Challenge, Validator
from tests.issuance.acme.support import new_key

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_resolvers_are_addresses_with_optional_ports() -> None:
    assert parse_resolver("127.0.0.1:8053") == ("127.0.0.1", 8053)
    assert parse_resolver("10.0.0.2") == ("10.0.0.2", 53)
    assert parse_resolver("[::1]:5353") == ("::1", 5353)
    assert parse_resolver("::1") == ("::1", 53)
    for bad in ("dns.corp.example", "127.0.0.1:0", "127.0.0.1:x"):
        with pytest.raises(ValueError, match="resolver"):
            parse_resolver(bad)


def test_http01_port_from_the_file_and_the_environment() -> None:
    settings = CertsightSettings.parse(
        {"acme": {"http01_port": 5002, "resolvers": ["127.0.0.1:8053"]}},
        environ={},
    )
    assert settings.acme_settings().http01_port == 5002
    over = CertsightSettings.parse(
        {"acme": {"http01_port": 5002}}, environ={"CERTSIGHT_ACME_HTTP01_PORT": "18080"}
    )
    assert over.acme_settings().http01_port == 18080
    wrong = CertsightSettings.parse({}, environ={"CERTSIGHT_ACME_HTTP01_PORT": "eighty"})
    with pytest.raises(SettingsError, match=r"acme\.http01_port"):
        wrong.acme_settings()
    with pytest.raises(SettingsError, match=r"acme\.eab_requried"):
        CertsightSettings.parse({"acme": {"eab_requried": False}})
    assert AcmeSettings().eab_required is True and AcmeSettings().http01_port == 80


def _certificate(serial: int) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize("serial", [1, 0x7F, 0x80, 0xFF00, (1 << 158) + 12345])
def test_cert_ids_agree_with_the_acme_library(serial: int) -> None:
    """A serial whose first byte has the high bit set gets a 0x00 in DER: both sides
    must encode it, and the server must read it back as certsight spells serials."""
    certificate = _certificate(serial)
    assert cert_id(certificate) == _renewal_info_path_component(certificate)
    _aki, spelled = parse_cert_id(cert_id(certificate))
    assert int(spelled, 16) == serial


def test_nonces_are_single_use_and_expire(tmp_path: Path) -> None:
    store = AcmeStore(tmp_path / "state.sqlite")
    store.add_nonce("one", NOW + timedelta(minutes=5))
    store.add_nonce("old", NOW - timedelta(seconds=1))
    assert store.take_nonce("one", NOW) is True
    assert store.take_nonce("one", NOW) is False  # replayed
    assert store.take_nonce("old", NOW) is False  # expired
    assert store.take_nonce("never-issued", NOW) is False
    store.close()


def test_eab_keys_bind_a_policy_and_verify_bindings(tmp_path: Path) -> None:
    store = AcmeStore(tmp_path / "state.sqlite")
    keys = EabKeys(store)
    kid, hmac_key = keys.create(
        name="web",
        allow=["*.corp.example"],
        profiles=["tls-server"],
        rate_limit="60/minute",
        now=NOW,
    )
    with pytest.raises(EabError, match="exists"):
        keys.create(
            name="web", allow=["x.corp.example"], profiles=[], rate_limit="1/second", now=NOW
        )
    with pytest.raises(EabError, match="allow"):
        keys.create(name="none", allow=[], profiles=[], rate_limit="1/second", now=NOW)
    account = new_key()
    url = "https://127.0.0.1/acme/new-account"
    directory = messages.Directory({"newAccount": url})
    binding = messages.ExternalAccountBinding.from_data(
        account_public_key=account.public_key(), kid=kid, hmac_key=hmac_key, directory=directory
    )
    bound = keys.verify(binding, account.public_key(), url)
    assert bound.grant().requester == "acme:web"
    assert bound.grant().profiles == ("tls-server",)
    with pytest.raises(AcmeError) as other_url:
        keys.verify(binding, account.public_key(), url + "x")
    assert other_url.value.kind.code == "unauthorized"
    with pytest.raises(AcmeError) as other_key:
        keys.verify(binding, new_key().public_key(), url)
    assert other_key.value.kind.code == "unauthorized"
    keys.revoke("web", NOW)
    with pytest.raises(AcmeError, match="revoked"):
        keys.verify(binding, account.public_key(), url)
    row = store.get("acme_eab", kid)
    assert row is not None and json.dumps(row["allow"]) == '["*.corp.example"]'
    store.close()


def test_http01_to_a_closed_port_is_a_connection_error_after_bounded_attempts() -> None:
    """A loopback port nobody listens on: every attempt is refused, the result names
    the address and port, and the validator gives up after validation_attempts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = int(probe.getsockname()[1])
    settings = AcmeSettings(http01_port=closed, validation_attempts=2, resolvers=["127.0.0.1:9"])
    challenge = Challenge(kind="http-01", token="t", identifier_type="ip", identifier="127.0.0.1")
    error = Validator(settings).validate(challenge, "t.thumb")
    assert error is not None and error.kind.code == "connection"
    assert f"127.0.0.1:{closed}" in error.detail


def test_http01_answer_is_compared_exactly(tmp_path: Path) -> None:
    """A real HTTP server on loopback answering the right and the wrong text."""
    served: dict[str, str] = {"good": "good.thumb", "bad": "something else"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served.get(self.path.rsplit("/", 1)[-1], "").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = AcmeSettings(
            http01_port=int(server.server_address[1]), resolvers=["127.0.0.1:9"]
        )
        validator = Validator(settings)
        ok = Challenge(kind="http-01", token="good", identifier_type="ip", identifier="127.0.0.1")
        assert validator.validate(ok, "good.thumb") is None
        wrong = Challenge(kind="http-01", token="bad", identifier_type="ip", identifier="127.0.0.1")
        error = validator.validate(wrong, "bad.thumb")
        assert error is not None and error.kind.code == "incorrectResponse"
    finally:
        server.shutdown()
        server.server_close()


def test_expired_orders_and_authorizations_read_as_such() -> None:
    order = {"status": "ready", "expires_at": (NOW - timedelta(seconds=1)).isoformat()}
    assert order_status(order, NOW) == "invalid"
    assert order_status({**order, "status": "valid"}, NOW) == "valid"
    authz = {"status": "pending", "expires_at": (NOW + timedelta(hours=1)).isoformat()}
    assert authz_status(authz, NOW) == "pending"
    assert authz_status(authz, NOW + timedelta(hours=2)) == "expired"


def test_eab_hmac_keys_never_start_with_a_dash(tmp_path: Path) -> None:
    """certbot's `--eab-hmac-key KEY` (argparse) reads a key starting with '-' as an
    option and stops with a usage error; one base64url key in 64 would. 600 keys: today's
    code passes always, a plain base64url draw fails this with probability 1 - (63/64)^600,
    over 99.99%."""
    keys = EabKeys(AcmeStore(tmp_path / "state.sqlite"))
    created = [
        keys.create(
            name=f"host{n}", allow=["*.corp.example"], profiles=[], rate_limit="1/second", now=NOW
        )[1]
        for n in range(600)
    ]
    assert len(set(created)) == 600
    assert not [key for key in created if key.startswith("-")]
