"""Real ACME clients, run for the tests: certbot, lego and dehydrated against a directory.

Each client runs non-interactively as an operator's cron job would, with every folder
it writes (accounts, certificates, logs) under the test's own folder, trusting only the
CA bundle given for the server's HTTPS, and answering challenges on 127.0.0.1:

* certbot (PyPI, in ``.venv/tools/certbot``: it pins its own ``acme``, which must not
  replace the project's; Debian's ``certbot`` when that is missing): http-01 with its
  standalone server on ``--http-01-port``, dns-01 through ``--manual`` hooks that set
  the TXT record in a loopback DNS server (pebble-challtestsrv), forced and plain
  ``renew`` (the plain one consults ARI when the directory offers ``renewalInfo``),
  ``revoke``. Trust: ``REQUESTS_CA_BUNDLE``.
* lego (Debian): ``run --http --http.port 127.0.0.1:PORT``. Trust: ``LEGO_CA_CERTIFICATES``.
* dehydrated (Debian): a config file (``CA=``, ``CHALLENGETYPE=http-01``, ``WELLKNOWN=``,
  ``EAB_KID``/``EAB_HMAC_KEY``); its challenge files are served by ``WellKnownServer``,
  a small HTTP server on loopback. Trust: ``CURL_CA_BUNDLE``.

A client that fails raises ``ClientFailed`` with its command line and its whole output,
so a failing test shows what the client said. ``make acme-clients`` installs them; a
missing one skips its tests (``require_*``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509

REPO = Path(__file__).resolve().parents[1]
CERTBOT_VENV = REPO / ".venv" / "tools" / "certbot"
CLIENT_TIMEOUT = 180  # seconds a client may take before the test gives up on it
CONTACT = "pki-tests@corp.example"
CHALLENGE_PATH = "/.well-known/acme-challenge/"


def certbot_binary() -> str | None:
    """certbot from its own venv (``make acme-clients``), else one on PATH."""
    own = CERTBOT_VENV / "bin" / "certbot"
    return str(own) if own.exists() else shutil.which("certbot")


def _require(binary: str | None, name: str, how: str) -> str:
    if binary is None:
        pytest.skip(f"{name} is not installed ({how}; `make test` installs it)")
    return binary


def require_certbot() -> str:
    return _require(certbot_binary(), "certbot", f"PyPI, into {CERTBOT_VENV}")


def require_lego() -> str:
    return _require(shutil.which("lego"), "lego", "Debian package `lego`")


def require_dehydrated() -> str:
    return _require(shutil.which("dehydrated"), "dehydrated", "Debian package `dehydrated`")


@dataclass(frozen=True)
class Eab:
    """External Account Binding: the key id and the base64url HMAC key the CA gave."""

    kid: str
    hmac_key: str


@dataclass(frozen=True)
class AcmeTarget:
    """An ACME server as a client sees it."""

    directory: str
    ca_bundle: Path  # trusts the directory's HTTPS certificate
    http_port: int  # where the server's validator connects for http-01
    eab: Eab | None = None


@dataclass(frozen=True)
class Issued:
    """What a client wrote, and what it said."""

    certificate: Path  # the leaf alone (lego: the first of its bundle)
    fullchain: Path
    key: Path
    output: str

    def leaf(self) -> x509.Certificate:
        return x509.load_pem_x509_certificates(self.certificate.read_bytes())[0]

    def key_pem(self) -> bytes:
        return self.key.read_bytes()


class ClientFailed(AssertionError):
    """A client exited non-zero: the message holds the command and its whole output."""

    def __init__(self, command: Sequence[str], returncode: int, output: str) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.output = output
        super().__init__(f"{shlex.join(command)} exited {returncode}:\n{output}")


def run_client(
    command: Sequence[str], *, env: dict[str, str], cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one client command; stdout and stderr together, as a terminal shows them."""
    done = subprocess.run(
        list(command),
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check and done.returncode != 0:
        raise ClientFailed(command, done.returncode, done.stdout)
    return done


# -- certbot ------------------------------------------------------------------------------

CERTBOT_DNS_HOOK = '''\
"""certbot --manual dns-01 hook for the tests: the TXT record in pebble-challtestsrv."""
import json, os, sys, urllib.request

MANAGEMENT = {management!r}
action = sys.argv[1]
body = {{"host": "_acme-challenge." + os.environ["CERTBOT_DOMAIN"].removeprefix("*.") + "."}}
if action == "auth":
    body["value"] = os.environ["CERTBOT_VALIDATION"]
path = "/set-txt" if action == "auth" else "/clear-txt"
request = urllib.request.Request(MANAGEMENT + path, data=json.dumps(body).encode(), method="POST")
urllib.request.urlopen(request, timeout=10).read()
'''


@dataclass(frozen=True)
class DnsHooks:
    """The two commands certbot runs around a dns-01 validation."""

    auth: str
    cleanup: str


def certbot_dns_hooks(directory: Path, management_url: str) -> DnsHooks:
    """Hooks that publish and remove ``_acme-challenge`` TXT records through
    pebble-challtestsrv's management API (``management_url``)."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "certbot_dns_hook.py"
    script.write_text(CERTBOT_DNS_HOOK.format(management=management_url))
    command = shlex.join([sys.executable, str(script)])
    return DnsHooks(auth=f"{command} auth", cleanup=f"{command} cleanup")


@dataclass(frozen=True)
class Renewal:
    output: str
    renewed: bool  # the live certificate changed


class Certbot:
    """One certbot installation state (config, work and logs folders) for one target."""

    def __init__(self, target: AcmeTarget, workdir: Path) -> None:
        self.binary = require_certbot()
        self.target = target
        self.workdir = workdir
        for name in ("config", "work", "logs"):
            (workdir / name).mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "REQUESTS_CA_BUNDLE": str(self.target.ca_bundle)}

    def _command(self, subcommand: str, *args: str) -> list[str]:
        return [
            self.binary,
            subcommand,
            "--non-interactive",
            "--config-dir",
            str(self.workdir / "config"),
            "--work-dir",
            str(self.workdir / "work"),
            "--logs-dir",
            str(self.workdir / "logs"),
            "--server",
            self.target.directory,
            *args,
        ]

    def _account(self) -> list[str]:
        args = ["--agree-tos", "--register-unsafely-without-email"]
        if self.target.eab is not None:
            # key=value: a base64url key may start with '-', which argparse takes for an option
            args += [
                f"--eab-kid={self.target.eab.kid}",
                f"--eab-hmac-key={self.target.eab.hmac_key}",
            ]
        return args

    def run(
        self, subcommand: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """One certbot command. On failure its console shows only the problem's detail;
        the ACME problem types it logged are added to the error's output."""
        command = self._command(subcommand, *args)
        try:
            return run_client(command, env=self.env, cwd=self.workdir, check=check)
        except ClientFailed as failed:
            log = self.workdir / "logs" / "letsencrypt.log"
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            problems = [line for line in lines if "urn:ietf:params:acme:error:" in line]
            output = failed.output + "".join(f"[certbot's log] {p}\n" for p in problems)
            raise ClientFailed(command, failed.returncode, output) from None

    def forget_ari_retry_after(self, cert_name: str) -> None:
        """Drop the ``ari_retry_after`` certbot saved from the server's renewalInfo
        answer, as if that time had passed: its next ``renew`` asks renewalInfo again
        (until then certbot keeps the window it was given, as RFC 9773 section 4.3 asks)."""
        conf = self.workdir / "config" / "renewal" / f"{cert_name}.conf"
        kept = [
            line
            for line in conf.read_text().splitlines(keepends=True)
            if not line.replace(" ", "").startswith("ari_retry_after=")
        ]
        conf.write_text("".join(kept))

    def live(self, cert_name: str, output: str = "") -> Issued:
        folder = self.workdir / "config" / "live" / cert_name
        return Issued(folder / "cert.pem", folder / "fullchain.pem", folder / "privkey.pem", output)

    def _certonly(
        self, names: Sequence[str], cert_name: str | None, challenge: list[str]
    ) -> Issued:
        chosen = cert_name or names[0].removeprefix("*.")
        domains = [arg for name in names for arg in ("-d", name)]
        done = self.run(
            "certonly",
            *self._account(),
            "--cert-name",
            chosen,
            "--key-type",
            "ecdsa",
            *challenge,
            *domains,
        )
        return self.live(chosen, done.stdout)

    def certonly_http(self, names: Sequence[str], *, cert_name: str | None = None) -> Issued:
        """http-01, answered by certbot's standalone server on 127.0.0.1:``http_port``."""
        return self._certonly(
            names,
            cert_name,
            [
                "--standalone",
                "--preferred-challenges",
                "http",
                "--http-01-port",
                str(self.target.http_port),
                "--http-01-address",
                "127.0.0.1",
            ],
        )

    def certonly_dns(
        self, names: Sequence[str], hooks: DnsHooks, *, cert_name: str | None = None
    ) -> Issued:
        """dns-01 through ``--manual`` and the hooks (``certbot_dns_hooks``)."""
        return self._certonly(
            names,
            cert_name,
            [
                "--manual",
                "--preferred-challenges",
                "dns",
                "--manual-auth-hook",
                hooks.auth,
                "--manual-cleanup-hook",
                hooks.cleanup,
            ],
        )

    def renew(self, cert_name: str, *, force: bool = False) -> Renewal:
        """``certbot renew`` as cron runs it (no random sleep). Without ``force`` certbot
        decides: from ARI when the directory has ``renewalInfo``, else from the lifetime."""
        before = self.live(cert_name).certificate.read_bytes()
        done = self.run(
            "renew",
            "--cert-name",
            cert_name,
            "--no-random-sleep-on-renew",
            *(["--force-renewal"] if force else []),
        )
        after = self.live(cert_name).certificate.read_bytes()
        return Renewal(done.stdout, renewed=after != before)

    def revoke(self, cert_name: str, reason: str = "keycompromise") -> str:
        """Revoke with the account key that obtained it; the files stay for the test."""
        done = self.run(
            "revoke",
            "--cert-name",
            cert_name,
            "--reason",
            reason,
            "--no-delete-after-revoke",
        )
        return done.stdout


# -- lego ---------------------------------------------------------------------------------


class Lego:
    """lego with its data folder (``--path``) under the test's folder."""

    def __init__(self, target: AcmeTarget, workdir: Path, *, email: str = CONTACT) -> None:
        self.binary = require_lego()
        self.target = target
        self.workdir = workdir
        self.email = email
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "LEGO_CA_CERTIFICATES": str(self.target.ca_bundle)}

    def run_http(self, names: Sequence[str], *, key_type: str = "ec256") -> Issued:
        """``lego run`` with http-01 on its own server at 127.0.0.1:``http_port``."""
        command = [
            self.binary,
            "--accept-tos",
            "--email",
            self.email,
            "--server",
            self.target.directory,
            "--path",
            str(self.workdir),
            "--key-type",
            key_type,
            "--http",
            "--http.port",
            f"127.0.0.1:{self.target.http_port}",
            *(arg for name in names for arg in ("--domains", name)),
        ]
        if self.target.eab is not None:
            command += [
                "--eab",
                f"--kid={self.target.eab.kid}",
                f"--hmac={self.target.eab.hmac_key}",
            ]
        done = run_client([*command, "run"], env=self.env, cwd=self.workdir)
        stem = names[0].replace("*", "_")
        folder = self.workdir / "certificates"
        # lego's .crt is the leaf followed by its issuers
        return Issued(
            folder / f"{stem}.crt", folder / f"{stem}.crt", folder / f"{stem}.key", done.stdout
        )


# -- dehydrated ---------------------------------------------------------------------------


class WellKnownServer:
    """Serves ``directory``'s files under /.well-known/acme-challenge/ on 127.0.0.1,
    as a web server does for dehydrated's WELLKNOWN folder; nothing else."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.requests: list[str] = []
        served, seen = directory, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                token = self.path.removeprefix(CHALLENGE_PATH)
                path = served / token
                if (
                    not self.path.startswith(CHALLENGE_PATH)
                    or "/" in token
                    or token in ("", ".", "..")
                    or not path.is_file()
                ):
                    self.send_error(404)
                    return
                body = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WellKnownServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class Dehydrated:
    """dehydrated with its own config file, account and certificate folders."""

    def __init__(self, target: AcmeTarget, workdir: Path, *, email: str = CONTACT) -> None:
        self.binary = require_dehydrated()
        self.target = target
        self.workdir = workdir
        self.wellknown = workdir / "wellknown"
        self.wellknown.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "config"
        lines = {
            "CA": target.directory,
            "CHALLENGETYPE": "http-01",
            "BASEDIR": str(workdir),
            "WELLKNOWN": str(self.wellknown),
            "CERTDIR": str(workdir / "certs"),
            "ACCOUNTDIR": str(workdir / "accounts"),
            "DOMAINS_TXT": str(workdir / "domains.txt"),
            "LOCKFILE": str(workdir / "lock"),
            "KEY_ALGO": "prime256v1",
            "CONTACT_EMAIL": email,
            "OCSP_FETCH": "no",
        }
        if target.eab is not None:
            lines |= {"EAB_KID": target.eab.kid, "EAB_HMAC_KEY": target.eab.hmac_key}
        self.config.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in lines.items()))

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "CURL_CA_BUNDLE": str(self.target.ca_bundle)}

    def _run(self, *args: str) -> str:
        command = [self.binary, "--config", str(self.config), *args]
        return run_client(command, env=self.env, cwd=self.workdir).stdout

    def issue_http(self, names: Sequence[str]) -> Issued:
        """Register (accepting the terms), then ``--cron`` for ``names``, with the
        challenge files served on 127.0.0.1:``http_port`` while it runs."""
        output = self._run("--register", "--accept-terms")
        domains = [arg for name in names for arg in ("--domain", name)]
        with WellKnownServer(self.wellknown, self.target.http_port):
            output += self._run("--cron", *domains)
        folder = self.workdir / "certs" / names[0]
        return Issued(folder / "cert.pem", folder / "fullchain.pem", folder / "privkey.pem", output)
