"""The upstream-ACME backend against a real ACME CA: pebble, on 127.0.0.1.

Every test issues (or fails to) through pebble with the backend's own challenge
answering: the built-in http-01 responder, files in a webroot served by a plain web
server, and a dns-01 hook that publishes TXT records in pebble-challtestsrv. Results are
checked the way a relying party would: the leaf carries the CSR's key and exactly the
order's names, and ``openssl verify`` builds the chain up to pebble's root.

The module takes about half a minute (the acme client polls once a second), so it is
marked slow; the servers start once per module.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import secrets
import shlex
import shutil
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from acme.client import ClientV2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from issuance.backends import open_backend
from issuance.backends.acme_upstream import AcmeBackend
from issuance.backends.base import (
    BackendConfigError,
    BackendContext,
    BackendRefusedError,
    BackendUnavailableError,
    CertificateOrder,
    Issued,
)
from issuance.backends.settings import AcmeBackendSettings
from pki.layout import PkiLayout
from pki.reasons import RevocationReason
from tests.acme_servers import (
    ChallTestSrv,
    Pebble,
    free_port,
    hook_calls,
    make_tls,
    running_challtestsrv,
    running_pebble,
    write_dns_hook,
    write_failing_hook,
)

EAB_KID = "certsight-test-kid"
EAB_KEY = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
EAB_ENV = "TEST_ACME_EAB_HMAC"  # where the backend finds the HMAC key (via context.secret)
BLOCKED = "blocked.example.test"  # pebble's domainBlocklist: rejectedIdentifier

pytestmark = pytest.mark.slow


# -- servers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChallTestSrv]:
    with running_challtestsrv(tmp_path_factory.mktemp("challtestsrv")) as server:
        yield server


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory, dns: ChallTestSrv) -> Iterator[Pebble]:
    with running_pebble(
        tmp_path_factory.mktemp("pebble"), dns, http_port=free_port(), blocklist=(BLOCKED,)
    ) as server:
        yield server


@pytest.fixture(scope="module")
def eab_pebble(tmp_path_factory: pytest.TempPathFactory, dns: ChallTestSrv) -> Iterator[Pebble]:
    with running_pebble(
        tmp_path_factory.mktemp("pebble-eab"),
        dns,
        http_port=free_port(),
        eab_keys={EAB_KID: EAB_KEY},
    ) as server:
        yield server


# -- backends, CSRs, orders ----------------------------------------------------------------

Make = Callable[..., AcmeBackend]


@pytest.fixture
def make_backend(tmp_path: Path) -> Iterator[Make]:
    """Backends built the way the service builds them (the registry), state under
    ``tmp_path/backends`` unless a test hands another folder."""
    made: list[AcmeBackend] = []

    def make(
        server: Pebble,
        *,
        state_dir: Path | None = None,
        secrets_: dict[str, str] | None = None,
        name: str = "upstream",
        **fields: Any,
    ) -> AcmeBackend:
        settings = AcmeBackendSettings(
            type="acme",
            directory=fields.pop("directory", server.directory),
            ca_bundle=server.tls_ca,
            http_host="127.0.0.1",
            http_port=server.http_port,
            timeout_seconds=30.0,
            **fields,
        )
        context = BackendContext(
            layout=PkiLayout(tmp_path / "pki"),
            state_dir=state_dir or tmp_path / "backends",
            clock=lambda: datetime.now(UTC),
            secret=(secrets_ or {}).get,
        )
        backend = open_backend(name, settings, context)
        assert isinstance(backend, AcmeBackend)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def unique(label: str) -> str:
    return f"{label}-{secrets.token_hex(4)}.example.test"


def cryptography_csr(names: Sequence[str]) -> x509.CertificateSigningRequest:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )


def openssl_csr(
    directory: Path, dns_names: Sequence[str], ips: Sequence[str] = ()
) -> x509.CertificateSigningRequest:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (`make test` installs it)")
    directory.mkdir(parents=True, exist_ok=True)
    san = ",".join([*(f"DNS:{n}" for n in dns_names), *(f"IP:{ip}" for ip in ips)])
    subprocess.run(
        [
            openssl,
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(directory / "key.pem"),
            "-out",
            str(directory / "csr.pem"),
            "-subj",
            f"/CN={dns_names[0]}",
            "-addext",
            f"subjectAltName={san}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return x509.load_pem_x509_csr((directory / "csr.pem").read_bytes())


def order_for(csr: x509.CertificateSigningRequest, names: Sequence[str]) -> CertificateOrder:
    return CertificateOrder(
        request_id=secrets.token_hex(8),
        csr=csr,
        common_name=names[0],
        names=tuple(names),
        validity=timedelta(days=30),
        profile="web",
        ekus=("serverAuth",),
        requester="api:test",
        now=datetime.now(UTC),
    )


def spki(key: Any) -> bytes:
    public: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public


def sans(certificate: x509.Certificate) -> set[str]:
    extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    names = extension.value.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in extension.value.get_values_for_type(x509.IPAddress)]
    return {*names, *ips}


def pem(certificates: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def assert_issued_for(
    issued: Issued, order: CertificateOrder, server: Pebble, directory: Path
) -> None:
    """The CSR's key, the order's names, and a chain that openssl builds to the root."""
    assert spki(issued.certificate.public_key()) == spki(order.csr.public_key())
    assert sans(issued.certificate) == set(order.names)
    intermediate = x509.load_pem_x509_certificate(server.intermediate_pem())
    assert issued.chain[0] == intermediate  # issuing CA first
    assert issued.certificate.issuer == intermediate.subject
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (`make test` installs it)")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "root.pem").write_bytes(server.root_pem())
    (directory / "chain.pem").write_bytes(pem(issued.chain))
    (directory / "leaf.pem").write_bytes(pem([issued.certificate]))
    verified = subprocess.run(
        [
            openssl,
            "verify",
            "-CAfile",
            str(directory / "root.pem"),
            "-untrusted",
            str(directory / "chain.pem"),
            str(directory / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


# -- issuance ------------------------------------------------------------------------------


def test_http01_with_the_built_in_responder_and_an_openssl_csr(
    pebble: Pebble, dns: ChallTestSrv, make_backend: Make, tmp_path: Path
) -> None:
    names = [unique("web"), unique("www")]
    for name in names:
        dns.add_a(name)
    csr = openssl_csr(tmp_path / "csr", names, ips=["127.0.0.1"])
    order = order_for(csr, [*names, "127.0.0.1"])
    backend = make_backend(pebble, contact=["mailto:pki@example.test"])
    assert backend.chain() == ()  # nothing seen yet: ACME serves chains with certificates

    issued = backend.submit(order)

    assert_issued_for(issued, order, pebble, tmp_path / "verify")
    assert backend.chain() == issued.chain
    account = tmp_path / "backends" / "upstream" / "account.json"
    assert stat.S_IMODE(account.stat().st_mode) == 0o600
    state = json.loads(account.read_text())
    assert state["account_url"].startswith(pebble.directory.removesuffix("/dir"))
    described = backend.describe()
    assert described == {
        "name": "upstream",
        "type": "acme",
        "directory": pebble.directory,
        "challenge": "http-01",
        "external_account_binding": False,
        "chain": "as served with the last certificate issued",
        "account": state["account_url"],
    }
    assert state["key"]["d"] not in json.dumps(described)
    # The responder lived for the order only: its port is free again.
    with ThreadingHTTPServer(("127.0.0.1", pebble.http_port), BaseHTTPRequestHandler):
        pass


def test_dns01_through_a_hook_with_a_cryptography_csr_and_a_wildcard(
    pebble: Pebble, dns: ChallTestSrv, make_backend: Make, tmp_path: Path
) -> None:
    base = unique("dns")
    names = [base, f"*.{base}"]  # two authorizations, one TXT name: the hook must add
    hook, log = write_dns_hook(tmp_path / "hook", dns)
    backend = make_backend(pebble, challenge="dns-01", hook=hook)
    order = order_for(cryptography_csr(names), names)

    issued = backend.submit(order)

    assert_issued_for(issued, order, pebble, tmp_path / "verify")
    calls = hook_calls(log)
    assert [c["action"] for c in calls] == ["present", "present", "cleanup", "cleanup"]
    for call in calls:
        env = call["env"]
        assert env["CERTSIGHT_ACME_CHALLENGE"] == "dns-01"
        assert env["CERTSIGHT_ACME_DOMAIN"] == base
        assert env["CERTSIGHT_ACME_RECORD"] == f"_acme-challenge.{base}"
        assert env["CERTSIGHT_ACME_VALUE"]
    presented = {c["env"]["CERTSIGHT_ACME_VALUE"] for c in calls[:2]}
    assert len(presented) == 2  # one TXT value per authorization


HTTP01_HOOK = """\
import os, pathlib, sys
token = os.environ["CERTSIGHT_ACME_TOKEN"]
path = pathlib.Path({webroot!r}, ".well-known", "acme-challenge", token)
assert os.environ["CERTSIGHT_ACME_CHALLENGE"] == "http-01"
if sys.argv[1] == "present":
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(os.environ["CERTSIGHT_ACME_VALUE"])
else:
    path.unlink()
"""


@pytest.mark.parametrize("how", ["webroot", "hook"])
def test_http01_through_another_web_server(
    pebble: Pebble, dns: ChallTestSrv, make_backend: Make, tmp_path: Path, how: str
) -> None:
    """The files a web server already serves: written by the backend (webroot) or by a
    hook (a web server on another host, say)."""
    webroot = tmp_path / "www"
    webroot.mkdir()
    if how == "webroot":
        fields: dict[str, Any] = {"webroot": webroot}
    else:
        script = tmp_path / "http_hook.py"
        script.write_text(HTTP01_HOOK.format(webroot=str(webroot)))
        fields = {"hook": shlex.join([sys.executable, str(script)])}
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(webroot))
    server = ThreadingHTTPServer(("127.0.0.1", pebble.http_port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        name = unique(how)
        dns.add_a(name)
        backend = make_backend(pebble, **fields)
        order = order_for(cryptography_csr([name]), [name])
        issued = backend.submit(order)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert sans(issued.certificate) == {name}
    challenge_dir = webroot / ".well-known" / "acme-challenge"
    assert challenge_dir.is_dir()
    assert list(challenge_dir.iterdir()) == []  # the files are gone after the order


def test_the_account_is_registered_once_and_reused_after_a_restart(
    pebble: Pebble,
    dns: ChallTestSrv,
    make_backend: Make,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique("again")
    dns.add_a(name)
    first = make_backend(pebble)
    first_issued = first.submit(order_for(cryptography_csr([name]), [name]))
    account_file = tmp_path / "backends" / "upstream" / "account.json"
    saved = account_file.read_text()
    account_url = first.describe()["account"]
    first.close()

    def no_second_registration(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("registered a second account")

    monkeypatch.setattr(ClientV2, "new_account", no_second_registration)
    second = make_backend(pebble)  # a restarted service: same state folder
    assert second.describe()["account"] == account_url
    assert second.chain() == first_issued.chain  # the last chain seen survives too
    issued = second.submit(order_for(cryptography_csr([name]), [name]))

    assert sans(issued.certificate) == {name}
    assert second.describe()["account"] == account_url
    assert account_file.read_text() == saved


def test_a_ca_that_forgot_the_account_gets_it_registered_again(
    tmp_path: Path, dns: ChallTestSrv, make_backend: Make
) -> None:
    """A CA whose database was reset answers accountDoesNotExist: register the same
    key again, once, and carry on."""
    port, http_port, tls = free_port(), free_port(), make_tls(tmp_path / "tls")
    name = unique("reset")
    dns.add_a(name)
    with running_pebble(tmp_path / "p1", dns, http_port=http_port, port=port, tls=tls) as ca:
        backend = make_backend(ca)
        backend.submit(order_for(cryptography_csr([name]), [name]))
        forgotten = backend.describe()["account"]
    with running_pebble(tmp_path / "p2", dns, http_port=http_port, port=port, tls=tls) as ca:
        issued = backend.submit(order_for(cryptography_csr([name]), [name]))
        assert sans(issued.certificate) == {name}
        assert backend.describe()["account"] != forgotten
        state = json.loads((tmp_path / "backends" / "upstream" / "account.json").read_text())
        assert state["account_url"] == backend.describe()["account"]


# -- External Account Binding ----------------------------------------------------------------


def test_eab_with_the_right_kid_and_key_registers_and_issues(
    eab_pebble: Pebble,
    dns: ChallTestSrv,
    make_backend: Make,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(EAB_ENV, EAB_KEY)  # where an operator would put it
    monkeypatch.setenv("TEST_ACME_DNS_PROVIDER_TOKEN", "for-the-hook")
    hook, log = write_dns_hook(
        tmp_path / "hook", dns, watch_env=(EAB_ENV, "TEST_ACME_DNS_PROVIDER_TOKEN")
    )
    backend = make_backend(
        eab_pebble,
        challenge="dns-01",
        hook=hook,
        eab_kid=EAB_KID,
        eab_hmac_key_env=EAB_ENV,
        secrets_={EAB_ENV: EAB_KEY},
    )
    name = unique("eab")
    order = order_for(cryptography_csr([name]), [name])

    issued = backend.submit(order)

    assert_issued_for(issued, order, eab_pebble, tmp_path / "verify")
    described = json.dumps(backend.describe())
    assert EAB_KEY not in described
    assert json.loads(described)["external_account_binding"] is True
    for call in hook_calls(log):  # the hook inherits the environment, not the HMAC key
        assert call["env"].get("TEST_ACME_DNS_PROVIDER_TOKEN") == "for-the-hook"
        assert EAB_ENV not in call["env"]


@pytest.mark.parametrize(
    ("fields", "secret", "expected"),
    [
        ({}, None, "requires External Account Binding"),
        ({"eab_kid": EAB_KID, "eab_hmac_key_env": EAB_ENV}, None, f"{EAB_ENV} .* is not set"),
        (
            {"eab_kid": EAB_KID, "eab_hmac_key_env": EAB_ENV},
            base64.urlsafe_b64encode(b"w" * 32).rstrip(b"=").decode(),
            "unauthorized: external account binding",
        ),
        ({"eab_kid": "not-a-kid", "eab_hmac_key_env": EAB_ENV}, EAB_KEY, "unauthorized: .*kid"),
    ],
    ids=["no-eab", "hmac-variable-unset", "wrong-hmac", "unknown-kid"],
)
def test_eab_required_and_not_given_right_is_a_config_error(
    eab_pebble: Pebble,
    make_backend: Make,
    fields: dict[str, str],
    secret: str | None,
    expected: str,
) -> None:
    backend = make_backend(eab_pebble, secrets_={EAB_ENV: secret} if secret else {}, **fields)
    name = unique("no-eab")
    with pytest.raises(BackendConfigError, match=expected):
        backend.submit(order_for(cryptography_csr([name]), [name]))
    assert "account" not in backend.describe()
    assert EAB_KEY not in json.dumps(backend.describe())


def test_the_cas_own_external_account_required_is_a_config_error(
    eab_pebble: Pebble, make_backend: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not every CA says so in its directory: the newAccount refusal counts the same."""
    monkeypatch.setattr(ClientV2, "external_account_required", lambda _self: False)
    backend = make_backend(eab_pebble)
    name = unique("no-eab")
    with pytest.raises(BackendConfigError, match="externalAccountRequired"):
        backend.submit(order_for(cryptography_csr([name]), [name]))


# -- revocation ----------------------------------------------------------------------------


def test_revoke_tells_the_ca_and_a_second_revoke_is_not_an_error(
    pebble: Pebble, dns: ChallTestSrv, make_backend: Make
) -> None:
    name = unique("revoke")
    dns.add_a(name)
    backend = make_backend(pebble)
    issued = backend.submit(order_for(cryptography_csr([name]), [name]))
    assert pebble.cert_status(issued.certificate)["Status"] == "Valid"

    backend.revoke(issued.certificate, RevocationReason.keyCompromise)

    status = pebble.cert_status(issued.certificate)
    assert status["Status"] == "Revoked"
    assert status["Reason"] == int(RevocationReason.keyCompromise)
    backend.revoke(issued.certificate, RevocationReason.keyCompromise)  # alreadyRevoked


# -- failures ------------------------------------------------------------------------------


def test_a_ca_that_is_not_running_is_unavailable(pebble: Pebble, make_backend: Make) -> None:
    stopped = f"https://127.0.0.1:{free_port()}/dir"
    backend = make_backend(pebble, directory=stopped)
    name = unique("down")
    with pytest.raises(BackendUnavailableError, match="Connection refused"):
        backend.submit(order_for(cryptography_csr([name]), [name]))
    with pytest.raises(BackendUnavailableError):
        backend.revoke(
            x509.load_pem_x509_certificate(pebble.root_pem()), RevocationReason.superseded
        )


def test_a_failing_hook_is_unavailable_and_named(
    pebble: Pebble, make_backend: Make, tmp_path: Path
) -> None:
    hook = write_failing_hook(tmp_path / "hook", status=3)
    backend = make_backend(pebble, challenge="dns-01", hook=hook)
    name = unique("hookfail")
    with pytest.raises(BackendUnavailableError) as raised:
        backend.submit(order_for(cryptography_csr([name]), [name]))
    message = str(raised.value)
    assert hook in message
    assert f"present for {name} exited with status 3" in message
    assert "zone example.test is not ours" in message  # the hook's own words


def test_a_name_without_an_address_fails_http01_validation(
    pebble: Pebble, make_backend: Make
) -> None:
    name = unique("nowhere")  # no A record in challtestsrv
    backend = make_backend(pebble)
    with pytest.raises(BackendRefusedError, match=rf"{name} \(http-01\): (connection|dns)"):
        backend.submit(order_for(cryptography_csr([name]), [name]))


def test_a_wrong_txt_record_fails_dns01_validation(
    pebble: Pebble, dns: ChallTestSrv, make_backend: Make, tmp_path: Path
) -> None:
    hook, log = write_dns_hook(tmp_path / "hook", dns, override="not-the-key-authorization")
    backend = make_backend(pebble, challenge="dns-01", hook=hook)
    name = unique("wrongtxt")
    with pytest.raises(
        BackendRefusedError, match=rf"{name} \(dns-01\): (incorrectResponse|unauthorized)"
    ):
        backend.submit(order_for(cryptography_csr([name]), [name]))
    assert [c["action"] for c in hook_calls(log)] == ["present", "cleanup"]


def test_a_name_the_ca_will_not_certify_is_refused(pebble: Pebble, make_backend: Make) -> None:
    backend = make_backend(pebble)
    with pytest.raises(BackendRefusedError, match=f"rejectedIdentifier.*{BLOCKED}"):
        backend.submit(order_for(cryptography_csr([BLOCKED]), [BLOCKED]))


def test_an_order_narrower_than_its_csr_is_refused_before_asking(
    pebble: Pebble, make_backend: Make
) -> None:
    names = [unique("a"), unique("b")]
    backend = make_backend(pebble, directory="https://127.0.0.1:9/never-asked")
    with pytest.raises(BackendRefusedError, match="certifies exactly the CSR's names"):
        backend.submit(order_for(cryptography_csr(names), names[:1]))


# A stub CA for answers pebble never gives: server failures and rate limits.
Route = tuple[int, str, bytes]


@contextmanager
def stub_ca(tmp_path: Path, routes: Callable[[str], dict[str, Route]]) -> Iterator[Pebble]:
    tls = make_tls(tmp_path / "stub-tls")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            status, content_type, body = table.get(self.path, (404, "text/plain", b"no"))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Replay-Nonce", secrets.token_urlsafe(16))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.certificate, tls.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    base = f"https://127.0.0.1:{server.server_address[1]}"
    table = routes(base)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Pebble(
            directory=f"{base}/dir", management_url="", tls_ca=tls.ca, http_port=free_port()
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _problem(code: str, detail: str) -> bytes:
    return json.dumps({"type": code, "detail": detail}).encode()


def _directory_then(status: int, problem: bytes) -> Callable[[str], dict[str, Route]]:
    def routes(base: str) -> dict[str, Route]:
        directory = {"newNonce": f"{base}/nonce", "newAccount": f"{base}/account"}
        return {
            "/dir": (200, "application/json", json.dumps(directory).encode()),
            "/nonce": (200, "text/plain", b""),
            "/account": (status, "application/problem+json", problem),
        }

    return routes


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        (
            lambda _base: {"/dir": (503, "application/problem+json", _problem("about:blank", "x"))},
            "HTTP 503",
        ),
        (lambda _base: {"/dir": (502, "text/html", b"<h1>Bad gateway</h1>")}, "HTTP 502"),
        (
            _directory_then(
                500, _problem("urn:ietf:params:acme:error:serverInternal", "database down")
            ),
            "serverInternal: database down",
        ),
        (
            _directory_then(
                429, _problem("urn:ietf:params:acme:error:rateLimited", "too many accounts")
            ),
            "rateLimited: too many accounts",
        ),
    ],
    ids=["directory-503-problem", "directory-502-html", "server-internal", "rate-limited"],
)
def test_server_failures_and_rate_limits_are_unavailable(
    tmp_path: Path, make_backend: Make, routes: Callable[[str], dict[str, Route]], expected: str
) -> None:
    with stub_ca(tmp_path, routes) as stub:
        backend = make_backend(stub)
        name = unique("stub")
        with pytest.raises(BackendUnavailableError, match=expected):
            backend.submit(order_for(cryptography_csr([name]), [name]))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"challenge": "dns-01"}, "dns-01 needs a hook"),
        ({"webroot": Path("/srv/www"), "hook": "/bin/true"}, "webroot or hook, not both"),
        ({"eab_kid": "kid"}, "needs both eab_kid and eab_hmac_key_env"),
        ({"directory": "http://127.0.0.1/dir"}, "https://"),
        ({"hook": "'unbalanced"}, "hook"),
    ],
)
def test_settings_that_cannot_work_are_refused_at_start(
    pebble: Pebble, make_backend: Make, fields: dict[str, Any], expected: str
) -> None:
    with pytest.raises(BackendConfigError, match=expected):
        make_backend(pebble, **fields)
