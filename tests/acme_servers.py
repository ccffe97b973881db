"""Pebble (Let's Encrypt's ACME test CA) and pebble-challtestsrv, run for the tests.

Both come from Debian's ``pebble`` package (``make test`` installs it). Everything listens
on 127.0.0.1 on free ports, and every name pebble's validation authority looks up is
answered by the challtestsrv started here, so nothing leaves the machine:

* challtestsrv serves DNS only (its own HTTP-01/TLS-ALPN-01 responders are off: the
  backend under test answers http-01 itself). It answers A queries only for names a test
  added with ``add_a`` (``-defaultIPv4 ""``), so a name nobody added fails validation,
  and never answers AAAA, so the VA does not try ``::1`` where nothing listens.
* pebble's VA connects to ``http_port`` for http-01: the port the backend's built-in
  responder is told to use. Its own TLS certificate is issued by a throwaway CA made
  here (``tls_ca``): that is the ``ca_bundle`` the backend is given.

The helpers are context managers; the test modules wrap them in fixtures of the scope
they need. Only a missing ``pebble`` binary skips (``require_pebble``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEBBLE = shutil.which("pebble")
CHALLTESTSRV = shutil.which("pebble-challtestsrv")
START_SECONDS = 30.0  # how long a server may take to answer before the fixture gives up


def require_pebble() -> tuple[str, str]:
    """The two binaries, or a skip saying how to get them."""
    if PEBBLE is None or CHALLTESTSRV is None:
        pytest.skip(
            "pebble is not installed (Debian package `pebble`; `make test` installs it): "
            "the upstream-ACME backend tests need it"
        )
    return PEBBLE, CHALLTESTSRV


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and the server certificate it issued for localhost/127.0.0.1."""

    ca: Path
    certificate: Path
    key: Path


def make_tls(directory: Path) -> TlsFiles:
    """Pebble's HTTPS identity. A CA plus a leaf, rather than one self-signed leaf, so
    the bundle the client trusts is a real trust anchor under any verification flags."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certsight test pebble TLS CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.certificate.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@dataclass(frozen=True)
class ChallTestSrv:
    """pebble-challtestsrv as the DNS that pebble's VA asks."""

    dns_port: int
    management_url: str

    def _post(self, path: str, body: Mapping[str, Any]) -> None:
        request = urllib.request.Request(
            self.management_url + path, data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def add_a(self, host: str, addresses: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self._post("/add-a", {"host": _fqdn(host), "addresses": list(addresses)})

    def set_txt(self, host: str, value: str) -> None:
        self._post("/set-txt", {"host": _fqdn(host), "value": value})

    def clear_txt(self, host: str) -> None:
        self._post("/clear-txt", {"host": _fqdn(host)})


def _fqdn(host: str) -> str:
    return host if host.endswith(".") else host + "."


@dataclass(frozen=True)
class Pebble:
    """A running pebble: its directory, management API and the trust for both."""

    directory: str
    management_url: str
    tls_ca: Path
    http_port: int  # where pebble's VA connects for http-01
    eab_keys: Mapping[str, str] = field(default_factory=dict)  # kid -> base64url HMAC key

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.tls_ca))

    def management(self, path: str) -> bytes:
        with urllib.request.urlopen(
            self.management_url + path, timeout=10, context=self._context()
        ) as answer:
            body: bytes = answer.read()
            return body

    def root_pem(self) -> bytes:
        return self.management("/roots/0")

    def intermediate_pem(self) -> bytes:
        return self.management("/intermediates/0")

    def cert_status(self, certificate: x509.Certificate) -> dict[str, Any]:
        """Pebble's record of a certificate it issued (``Status``: Valid or Revoked)."""
        status: dict[str, Any] = json.loads(
            self.management(f"/cert-status-by-serial/{certificate.serial_number:x}")
        )
        return status


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_answering(
    process: subprocess.Popen[bytes],
    log: Path,
    url: str,
    context: ssl.SSLContext | None = None,
) -> None:
    """Poll ``url`` until the server answers at all (any HTTP status counts)."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as answer:
                answer.read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer: {_tail(log)}") from None
            time.sleep(0.05)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no output)"


@contextmanager
def running_challtestsrv(workdir: Path) -> Iterator[ChallTestSrv]:
    """pebble-challtestsrv serving DNS on 127.0.0.1, its challenge responders off."""
    _pebble, binary = require_pebble()
    workdir.mkdir(parents=True, exist_ok=True)
    dns_port, management_port = free_port(), free_port()
    log = workdir / "challtestsrv.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                "-dns01",
                f"127.0.0.1:{dns_port}",
                "-management",
                f"127.0.0.1:{management_port}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv4",
                "",
                "-defaultIPv6",
                "",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        management_url = f"http://127.0.0.1:{management_port}"
        _wait_until_answering(process, log, management_url + "/")
        yield ChallTestSrv(dns_port=dns_port, management_url=management_url)
    finally:
        _stop(process)


@contextmanager
def running_pebble(
    workdir: Path,
    dns: ChallTestSrv,
    *,
    http_port: int,
    eab_keys: Mapping[str, str] | None = None,
    blocklist: tuple[str, ...] = (),
    port: int | None = None,
    tls: TlsFiles | None = None,
) -> Iterator[Pebble]:
    """Pebble on 127.0.0.1 resolving through ``dns``, validating http-01 on ``http_port``.

    With ``eab_keys``, accounts need External Account Binding with one of them.
    ``blocklist`` names pebble refuses (``rejectedIdentifier``). ``port`` and ``tls``
    pin the ACME port and HTTPS identity, so a test can stop pebble and start a new one
    (which has forgotten every account) at the same directory URL, trusted the same way."""
    binary, _challtestsrv = require_pebble()
    workdir.mkdir(parents=True, exist_ok=True)
    tls = tls or make_tls(workdir / "tls")
    acme_port = port or free_port()
    management_port = free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{management_port}",
            "certificate": str(tls.certificate),
            "privateKey": str(tls.key),
            "httpPort": http_port,
            "tlsPort": free_port(),  # tls-alpn-01 is not used; nothing listens there
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(eab_keys),
            "externalAccountMACKeys": dict(eab_keys or {}),
            "domainBlocklist": list(blocklist),
        }
    }
    config_path = workdir / "pebble-config.json"
    config_path.write_text(json.dumps(config, indent=2))
    env = {
        **os.environ,
        "PEBBLE_VA_NOSLEEP": "1",  # validate at once, not after up to 15 s
        "PEBBLE_WFE_NONCEREJECT": "0",  # no deliberately rejected nonces
        "PEBBLE_AUTHZREUSE": "0",  # every order validates its names afresh
    }
    log = workdir / "pebble.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                "-config",
                str(config_path),
                "-dnsserver",
                f"127.0.0.1:{dns.dns_port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    try:
        pebble = Pebble(
            directory=f"https://127.0.0.1:{acme_port}/dir",
            management_url=f"https://127.0.0.1:{management_port}",
            tls_ca=tls.ca,
            http_port=http_port,
            eab_keys=dict(eab_keys or {}),
        )
        context = ssl.create_default_context(cafile=str(tls.ca))
        _wait_until_answering(process, log, pebble.directory, context)
        _wait_until_answering(process, log, pebble.management_url + "/roots/0", context)
        yield pebble
    finally:
        _stop(process)


HOOK_SCRIPT = '''\
"""dns-01 hook for the tests: publishes the TXT record in pebble-challtestsrv."""
import json, os, sys, urllib.request

MANAGEMENT = {management!r}
OVERRIDE = {override!r}  # a wrong value to publish instead, to make validation fail
LOG = {log!r}

action = sys.argv[1]
record = os.environ["CERTSIGHT_ACME_RECORD"] + "."
if action == "present":
    body = {{"host": record, "value": OVERRIDE or os.environ["CERTSIGHT_ACME_VALUE"]}}
    path = "/set-txt"
else:
    body = {{"host": record}}
    path = "/clear-txt"
request = urllib.request.Request(MANAGEMENT + path, data=json.dumps(body).encode(), method="POST")
urllib.request.urlopen(request, timeout=10).read()
watched = {secret_names!r}
seen = {{k: v for k, v in os.environ.items() if k.startswith("CERTSIGHT_") or k in watched}}
with open(LOG, "a") as log:
    log.write(json.dumps({{"action": action, "env": seen}}) + "\\n")
'''


def write_dns_hook(
    directory: Path,
    dns: ChallTestSrv,
    *,
    override: str | None = None,
    watch_env: tuple[str, ...] = (),
) -> tuple[str, Path]:
    """A hook command that sets/clears the TXT record through challtestsrv, and the log
    where it records each call and the ``CERTSIGHT_*`` (and ``watch_env``) variables it
    saw."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "dns_hook.py"
    log = directory / "dns_hook.log"
    script.write_text(
        HOOK_SCRIPT.format(
            management=dns.management_url,
            override=override,
            log=str(log),
            secret_names=sorted(watch_env),
        )
    )
    return shlex.join([sys.executable, str(script)]), log


def write_failing_hook(directory: Path, status: int = 3) -> str:
    """A hook that fails the way a DNS provider's API error would."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "failing_hook.py"
    script.write_text(
        "import sys\n"
        "sys.stderr.write('provider said: zone example.test is not ours\\n')\n"
        f"sys.exit({status})\n"
    )
    return shlex.join([sys.executable, str(script)])


def hook_calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]
