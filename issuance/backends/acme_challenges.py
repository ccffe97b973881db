"""Proving control of the order's names: the challenges of an ACME order, answered.

Three ways, chosen by the backend's settings: the built-in http-01 responder (a small
HTTP server, up for one order only), http-01 files under a ``webroot`` that a web server
already serves, or a hook command (``HOOK present|cleanup``, the only way for dns-01).
They touch the host (a port, files, a subprocess and its environment) and always undo
what they did, which is reason enough to keep them apart from the order flow in
``acme_upstream``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shlex
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from acme import challenges, messages
from josepy.jwk import JWK

from issuance.backends.base import (
    BackendConfigError,
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
)
from issuance.backends.settings import AcmeBackendSettings

logger = logging.getLogger(__name__)

CHALLENGE_PATH = "/.well-known/acme-challenge/"
# RFC 8555 section 8.1: tokens are base64url. Anything else could be a path (../..) in
# the webroot or a header in a hook's environment, so it is refused.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MIN_CLEANUP_SECONDS = 10.0  # a cleanup hook runs even when the order used up its time
HOOK_TAIL_CHARS = 300


@dataclass(frozen=True)
class Challenge:
    """One authorization's challenge, answered the configured way."""

    identifier: str
    body: messages.ChallengeBody
    response: challenges.ChallengeResponse
    validation: str  # the key authorization (http-01) or the TXT value (dns-01)
    token: str

    @property
    def typ(self) -> str:
        typ: str = self.body.chall.typ
        return typ


def plan(orderr: messages.OrderResource, key: JWK, wanted: str) -> list[Challenge]:
    """The ``wanted`` challenge of every authorization still to be validated."""
    planned: list[Challenge] = []
    for authzr in orderr.authorizations:
        authz = authzr.body
        identifier = str(authz.identifier.value)
        if authz.status == messages.STATUS_VALID:
            continue  # the CA remembers a recent validation of this name
        if authz.status != messages.STATUS_PENDING:
            raise BackendRefusedError(f"the authorization for {identifier} is {authz.status.name}")
        offered = [challb for challb in authz.challenges if challb.chall.typ == wanted]
        if not offered:
            types = ", ".join(sorted(str(c.chall.typ) for c in authz.challenges)) or "none"
            raise BackendRefusedError(
                f"the CA offers no {wanted} challenge for {identifier} (it offers: {types})"
            )
        challb = offered[0]
        token = str(challb.chall.encode("token"))
        if not TOKEN.match(token):
            raise BackendRefusedError(f"the CA sent a malformed challenge token for {identifier}")
        response, validation = challb.chall.response_and_validation(key)
        planned.append(Challenge(identifier, challb, response, str(validation), token))
    return planned


class _ChallengeServer(ThreadingHTTPServer):
    """Serves the key authorizations of one order, nothing else."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], tokens: dict[str, str]) -> None:
        self.tokens = tokens
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _ChallengeHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, a DNS query that can hang on
        # a badly configured host for the whole order; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _ChallengeHandler(BaseHTTPRequestHandler):
    server_version = "certsight-acme"
    sys_version = ""

    def do_GET(self) -> None:
        tokens = cast(_ChallengeServer, self.server).tokens
        path = self.path.split("?", 1)[0]
        value = tokens.get(path[len(CHALLENGE_PATH) :]) if path.startswith(CHALLENGE_PATH) else None
        if value is None:
            self.send_error(404)
            return
        body = value.encode("ascii")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http-01 responder: %s " + format, self.client_address[0], *args)


class ChallengePresenter:
    """Makes one backend's challenges answerable the configured way, for one order."""

    def __init__(self, backend: str, settings: AcmeBackendSettings) -> None:
        self._backend = backend  # the backend's name, for the responder's thread
        self._settings = settings
        self._hook = shlex.split(settings.hook) if settings.hook else []

    @contextlib.contextmanager
    def presenting(self, planned: Sequence[Challenge], deadline: float) -> Iterator[None]:
        """Make every challenge answerable for the duration of the order, then undo it."""
        settings = self._settings
        if not planned:
            yield
        elif settings.challenge == "dns-01" or self._hook:
            with self._hook_presenting(planned, deadline):
                yield
        elif settings.webroot is not None:
            with self._webroot_presenting(planned, settings.webroot):
                yield
        else:
            with self._responding(planned):
                yield

    @contextlib.contextmanager
    def _responding(self, planned: Sequence[Challenge]) -> Iterator[None]:
        """The built-in http-01 responder: up for this order only, always stopped."""
        host, port = self._settings.http_host, self._settings.http_port
        try:
            server = _ChallengeServer((host, port), {c.token: c.validation for c in planned})
        except OSError as exc:
            message = f"cannot listen on {host}:{port}: {exc.strerror}"
            if exc.errno in (errno.EACCES, errno.EADDRNOTAVAIL):
                raise BackendConfigError(message) from None
            raise BackendUnavailableError(message) from None
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"acme-http-01-{self._backend}",
            daemon=True,
        )
        thread.start()
        try:
            yield
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    @contextlib.contextmanager
    def _webroot_presenting(self, planned: Sequence[Challenge], webroot: Path) -> Iterator[None]:
        """http-01 files for a web server that already serves ``webroot``, removed after."""
        written: list[Path] = []
        try:
            for item in planned:
                path = webroot / CHALLENGE_PATH.strip("/") / item.token
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(item.validation, encoding="ascii")
                    written.append(path)
                    path.chmod(0o644)  # the web server's user reads it
                except OSError as exc:
                    raise BackendConfigError(
                        f"cannot write the http-01 file under webroot {webroot}: {exc.strerror}"
                    ) from None
            yield
        finally:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _hook_presenting(self, planned: Sequence[Challenge], deadline: float) -> Iterator[None]:
        """``HOOK present`` for each challenge, ``HOOK cleanup`` for each one tried, even
        when the order failed. A failing cleanup is logged: it must not hide the order's
        outcome."""
        tried: list[Challenge] = []
        try:
            for item in planned:
                tried.append(item)
                self._run_hook("present", item, max(1.0, deadline - time.monotonic()))
            yield
        finally:
            for item in reversed(tried):
                seconds = max(MIN_CLEANUP_SECONDS, deadline - time.monotonic())
                try:
                    self._run_hook("cleanup", item, seconds)
                except BackendError as exc:
                    logger.warning("%s", exc)

    def _run_hook(self, action: str, item: Challenge, seconds: float) -> None:
        """Run ``HOOK present|cleanup`` with the challenge in ``CERTSIGHT_ACME_*``.

        The hook inherits the environment (its DNS provider's credentials are there)
        but not the EAB HMAC key, which is certsight's alone."""
        settings = self._settings
        environment = {k: v for k, v in os.environ.items() if k != settings.eab_hmac_key_env}
        environment.update(
            {
                "CERTSIGHT_ACME_CHALLENGE": item.typ,
                "CERTSIGHT_ACME_DOMAIN": item.identifier,
                "CERTSIGHT_ACME_VALUE": item.validation,
                "CERTSIGHT_ACME_TOKEN": item.token,
            }
        )
        if item.typ == challenges.DNS01.typ:
            environment["CERTSIGHT_ACME_RECORD"] = item.body.chall.validation_domain_name(
                item.identifier
            )
        where = f"hook {settings.hook!r} {action} for {item.identifier}"
        try:
            done = subprocess.run(  # noqa: S603 - the configured command, no shell
                [*self._hook, action],
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=seconds,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BackendUnavailableError(
                f"{where} did not finish within {seconds:.0f} s"
            ) from None
        except OSError as exc:
            raise BackendConfigError(f"{where} cannot be run: {exc.strerror}") from None
        if done.returncode != 0:
            status = (
                f"was killed by signal {-done.returncode}"
                if done.returncode < 0
                else f"exited with status {done.returncode}"
            )
            tail = " / ".join(line.strip() for line in done.stderr.splitlines() if line.strip())
            tail = tail[-HOOK_TAIL_CHARS:]
            raise BackendUnavailableError(f"{where} {status}" + (f": {tail}" if tail else ""))
