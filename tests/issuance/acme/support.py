"""What the ACME tests share: a running ``certsight serve issuance`` with its ACME
directory, the responders for OCSP, pebble-challtestsrv as the DNS the validator asks,
a challenge HTTP server on loopback, and clients built from the ``acme`` library.

Everything listens on 127.0.0.1 and is stopped by the fixture that started it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from acme import challenges, client, crypto_util, messages
from acme import jws as acme_jws
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from josepy.b64 import b64decode
from josepy.jwa import ES256
from josepy.jwk import JWK, JWKEC

from issuance.acme.eab import b64url
from tests.acme_servers import ChallTestSrv
from tests.conftest import PkiHome, RunningServer, free_port

SETTINGS = """
[issuance]
domains = ["corp.example"]
deny = ["**.secret.acme.corp.example"]

[issuance.profiles.short]
validity_days = 7

[acme]
resolvers = ["127.0.0.1:{dns_port}"]
tls_alpn01_port = {alpn_port}
validation_timeout_seconds = 2
validation_attempts = 2
max_body_bytes = 8192
"""


class ChallengeServer:
    """http-01 answers on loopback: token -> key authorization, set by a test."""

    def __init__(self) -> None:
        self.answers: dict[str, str] = {}
        self.hosts: list[str] = []
        answers, hosts = self.answers, self.hosts

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = self.path.rsplit("/", 1)[-1]
                hosts.append(self.headers.get("Host", ""))
                found = answers.get(token)
                body = (found or "not here").encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class AlpnServer:
    """tls-alpn-01 answers on loopback (RFC 8737): per SNI name, a self-signed
    certificate with the acmeIdentifier extension a test made."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._contexts: dict[str, ssl.SSLContext] = {}
        self.served: list[str] = []
        default = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        default.set_alpn_protocols(["acme-tls/1"])
        default.sni_callback = self._choose
        self._default = default
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def answer(self, name: str, key_authorization: str, *, critical: bool = True) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        digest = hashlib.sha256(key_authorization.encode()).digest()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31"), b"\x04\x20" + digest
                ),
                critical=critical,
            )
            .sign(key, hashes.SHA256())
        )
        cert_file, key_file = self._folder / f"{name}.pem", self._folder / f"{name}.key"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.set_alpn_protocols(["acme-tls/1"])
        context.load_cert_chain(cert_file, key_file)
        self._contexts[name] = context

    def _choose(self, sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.served.append(name or "")
        found = self._contexts.get(name or "")
        if found is not None:
            sock.context = found

    def _serve(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                try:
                    with self._default.wrap_socket(connection, server_side=True):
                        pass
                except (ssl.SSLError, OSError):
                    pass

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._listener.close()


@dataclass
class AcmeServer:
    url: str  # https://127.0.0.1:PORT
    home: PkiHome
    process: subprocess.Popen[bytes]
    responders: RunningServer
    dns: ChallTestSrv
    challenges: ChallengeServer
    alpn: AlpnServer
    stderr: Path
    eab: dict[str, str] = field(default_factory=dict)  # kid, hmac_key of "web"

    @property
    def directory_url(self) -> str:
        return f"{self.url}/acme/directory"

    @property
    def root(self) -> Path:
        return self.home.home.pki.root_cert

    def http(self) -> httpx.Client:
        return httpx.Client(verify=ssl.create_default_context(cafile=str(self.root)), timeout=30)


def certsight(home: PkiHome, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CERTSIGHT_HOME": str(home.home.root)}
    return subprocess.run(
        [sys.executable, "-m", "certsight.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def create_eab(
    home: PkiHome, name: str, *allow: str, profiles: tuple[str, ...] = ()
) -> dict[str, str]:
    args = [a for pattern in allow for a in ("--allow", pattern)]
    args += [a for profile in profiles for a in ("--profile", profile)]
    made = certsight(home, "acme", "eab", "create", "--name", name, *args, "--format", "json")
    assert made.returncode == 0, made.stderr
    found: dict[str, str] = json.loads(made.stdout)
    return found


@contextmanager
def running_acme(
    home: PkiHome, responders: RunningServer, dns: ChallTestSrv, *, acme_extra: str = ""
) -> Iterator[AcmeServer]:
    challenge_server = ChallengeServer()
    alpn = AlpnServer(home.home.root / "alpn")
    home.home.settings_file.write_text(
        SETTINGS.format(dns_port=dns.dns_port, alpn_port=alpn.port) + acme_extra
    )
    port = free_port()
    stderr = home.home.root / "issuance-acme.stderr"
    process: subprocess.Popen[bytes] | None = None
    try:
        with stderr.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "certsight.cli", "serve", "issuance", "--port", str(port)],
                env={
                    **os.environ,
                    "CERTSIGHT_HOME": str(home.home.root),
                    "CERTSIGHT_ACME_HTTP01_PORT": str(challenge_server.port),
                },
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        server = AcmeServer(
            f"https://127.0.0.1:{port}",
            home,
            process,
            responders,
            dns,
            challenge_server,
            alpn,
            stderr,
        )
        deadline = time.monotonic() + 60  # a bound for a stuck start, not a speed claim
        while True:
            if process.poll() is not None:
                pytest.fail(f"serve issuance exited: {stderr.read_text()}")
            try:
                with server.http() as http:
                    if http.get(server.directory_url, timeout=1).status_code == 200:
                        break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail(f"serve issuance did not start: {stderr.read_text()}")
                time.sleep(0.2)
        yield server
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        challenge_server.stop()
        alpn.stop()


# -- clients ------------------------------------------------------------------------------


def new_key() -> JWKEC:
    return JWKEC(key=ec.generate_private_key(ec.SECP256R1()))


def network(server: AcmeServer, key: JWKEC | None = None) -> client.ClientNetwork:
    return client.ClientNetwork(
        key or new_key(),
        alg=ES256,
        verify_ssl=str(server.root),  # type: ignore[arg-type]  # requests takes a CA path too
        user_agent="certsight-tests",
    )


def acme_client(
    server: AcmeServer, *, key: JWKEC | None = None, eab: dict[str, str] | None = None
) -> client.ClientV2:
    """A registered account (EAB of ``eab``, by default the server's "web" key)."""
    net = network(server, key)
    directory = client.ClientV2.get_directory(server.directory_url, net)
    acme = client.ClientV2(directory, net)
    binding = eab if eab is not None else server.eab
    assert net.key is not None
    registration = messages.NewRegistration.from_data(
        email="ops@corp.example",
        terms_of_service_agreed=True,
        external_account_binding=messages.ExternalAccountBinding.from_data(
            account_public_key=net.key.public_key(),
            kid=binding["kid"],
            hmac_key=binding["hmac_key"],
            directory=directory,
        ),
    )
    acme.new_account(registration)
    return acme


def make_csr(names: list[str]) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return crypto_util.make_csr(pem, names), pem


def answer(
    server: AcmeServer, acme: client.ClientV2, order: messages.OrderResource, kind: str
) -> None:
    """Put every authorization's key authorization in place and tell the server."""
    for authz in order.authorizations:
        challenge = next(c for c in authz.body.challenges if c.chall.typ == kind)
        response, validation = challenge.response_and_validation(acme.net.key)
        name = authz.body.identifier.value
        if kind == "http-01":
            server.dns.add_a(name)
            server.challenges.answers[challenge.chall.encode("token")] = validation
        else:
            assert isinstance(challenge.chall, challenges.DNS01)
            server.dns.set_txt(challenge.chall.validation_domain_name(name), validation)
        acme.answer_challenge(challenge, response)


def obtain(
    server: AcmeServer, acme: client.ClientV2, names: list[str], kind: str = "http-01"
) -> tuple[messages.OrderResource, bytes]:
    """A full order: new order, challenges, finalize; the order and the key."""
    csr, key = make_csr(names)
    order = acme.new_order(csr)
    answer(server, acme, order, kind)
    # The deadline bounds a stuck order; it is not a speed claim.
    done = acme.poll_and_finalize(order, datetime.now() + timedelta(seconds=90))
    return done, key


class RawClient:
    """Hand-made JWS requests, for what a well-behaved client never sends."""

    def __init__(self, server: AcmeServer, key: JWK | None = None, kid: str | None = None):
        self.server = server
        self.key = key or new_key()
        self.kid = kid
        self.http = server.http()
        self.directory = self.http.get(server.directory_url).json()

    def nonce(self) -> str:
        return str(self.http.head(self.directory["newNonce"]).headers["Replay-Nonce"])

    def body(
        self,
        url: str,
        payload: object | None,
        *,
        nonce: str | None = None,
        url_in_header: str | None = None,
        kid: str | None = None,
    ) -> bytes:
        data = b"" if payload is None else json.dumps(payload).encode()
        signed = acme_jws.JWS.sign(
            data,
            key=self.key,
            alg=ES256,
            nonce=None if nonce == "" else b64decode(nonce or self.nonce()),
            url=url_in_header or url,
            kid=kid or self.kid,
        )
        text: str = signed.json_dumps()
        return text.encode()

    def post(
        self,
        url: str,
        payload: object | None = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/jose+json",
        **options: str,
    ) -> httpx.Response:
        content = raw if raw is not None else self.body(url, payload, **options)
        return self.http.post(url, content=content, headers={"Content-Type": content_type})


def as_raw(server: AcmeServer, acme: client.ClientV2) -> RawClient:
    """A raw client acting for the account ``acme`` registered."""
    assert acme.net.key is not None and acme.net.account is not None
    return RawClient(server, key=acme.net.key, kid=acme.net.account.uri)


def key_authorization(token: str, acme: client.ClientV2) -> str:
    """token "." base64url(JWK thumbprint), for challenges the library no longer models
    (tls-alpn-01 arrives as an UnrecognizedChallenge)."""
    assert acme.net.key is not None
    return f"{token}.{b64url(acme.net.key.thumbprint())}"
