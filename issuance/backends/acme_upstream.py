"""An upstream ACME CA (RFC 8555): a public CA, or a commercial CA's ACME endpoint.

certsight is the ACME *client* here: it holds one account per configured backend, proves
control of each name the order's CSR carries (http-01 or dns-01), and collects the
certificate. Commercial CAs (DigiCert, Sectigo, GlobalSign, Entrust) tie that account to
a customer account with External Account Binding, so one backend covers all of them.

What ACME does not let the backend choose, it does not pretend to: the CA decides the
lifetime (``notAfter`` in a new order is optional in RFC 8555 and most CAs ignore or
refuse it, so none is sent and ``order.validity`` is not used), and the names are the
CSR's (the CA certifies exactly those, so an order whose names differ is refused before
any request). There is no standard way to ask an ACME CA for its chain either: it comes
with each certificate, so ``chain()`` is the chain served with the last one.

State, under ``context.state_dir / NAME``: ``account.json`` (0600: the account key as a
JWK, the directory and the account URL, so a restart reuses the account instead of
registering again) and ``chain.pem`` (the last chain seen).

Orders through one backend run one at a time: the built-in http-01 responder holds one
port, and an order is short (seconds) next to how often certificates are requested.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import ipaddress
import json
import logging
import math
import os
import re
import secrets
import shlex
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import requests
from acme import challenges, errors, messages
from acme.client import ClientNetwork, ClientV2
from acme.crypto_util import get_identifiers_from_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.errors import Error as JoseError
from josepy.jwa import ES256, RS256
from josepy.jwk import JWK, JWKEC

from issuance.backends.base import (
    BackendConfigError,
    BackendContext,
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
    CaBackend,
    CertificateOrder,
    Issued,
)
from issuance.backends.settings import AcmeBackendSettings
from pki.reasons import RevocationReason

logger = logging.getLogger(__name__)

USER_AGENT = "certsight"
ACCOUNT_FILE = "account.json"
CHAIN_FILE = "chain.pem"
CHALLENGE_PATH = "/.well-known/acme-challenge/"
# RFC 8555 section 8.1: tokens are base64url. Anything else could be a path (../..) in
# the webroot or a header in a hook's environment, so it is refused.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MAX_REQUEST_SECONDS = 45  # one HTTP exchange with the CA (the acme package's default)
MIN_CLEANUP_SECONDS = 10.0  # a cleanup hook runs even when the order used up its time
HOOK_TAIL_CHARS = 300

# Problem types (RFC 8555 section 6.7) by what the issuance service should do next.
# rateLimited counts as "unavailable": a rate limit judges how many requests this account
# or these names made lately, not this request, and it lifts by itself (the CA says when
# in Retry-After). Falling back to the profile's next CA is what a throttled CA calls for,
# as base.py puts "throttled" with the unreachable; whereas "refused" would fail the order
# even though another CA, or the same one an hour later, would issue it.
RETRYABLE_PROBLEMS = frozenset({"serverInternal", "rateLimited", "badNonce"})
# Whatever the stage, these mean the account or its key cannot work with this CA.
ACCOUNT_PROBLEMS = frozenset(
    {"externalAccountRequired", "accountDoesNotExist", "badPublicKey", "badSignatureAlgorithm"}
)
# At registration, the CA judges the account (the EAB, the contact), not an order.
REGISTRATION_PROBLEMS = frozenset(
    {"unauthorized", "malformed", "invalidContact", "unsupportedContact", "invalidEmail"}
)


class _ServerError(errors.ClientError):
    """The CA answered 5xx. ``messages.Error`` does not keep the HTTP status, and a 5xx
    with a problem document of a type we do not know must still mean "try later"."""

    def __init__(self, status: int, problem: messages.Error) -> None:
        super().__init__(status, problem)
        self.status = status
        self.problem = problem


class _Network(ClientNetwork):
    """``ClientNetwork`` that tells a server failure (5xx) from a refusal (4xx)."""

    @classmethod
    def _check_response(
        cls, response: requests.Response, content_type: str | None = None
    ) -> requests.Response:
        try:
            return super()._check_response(response, content_type=content_type)
        except messages.Error as problem:
            if response.status_code >= 500:
                raise _ServerError(response.status_code, problem) from problem
            raise


@dataclass(frozen=True)
class _AccountState:
    """What ``account.json`` holds. The key never changes once written; the directory
    and account URL are set when the account is registered (again, if the directory
    changed: an account belongs to one CA)."""

    key: JWK
    directory: str | None = None
    account_url: str | None = None

    def dumps(self) -> str:
        return json.dumps(
            {
                "key": json.loads(self.key.json_dumps()),
                "directory": self.directory,
                "account_url": self.account_url,
            },
            indent=2,
        )

    @classmethod
    def loads(cls, text: str) -> _AccountState:
        data = json.loads(text)
        key = JWK.from_json(data["key"])
        if not isinstance(key, JWK) or not hasattr(key.key, "private_numbers"):
            raise ValueError("the account key is not a private JWK")
        return cls(
            key=key,
            directory=data.get("directory"),
            account_url=data.get("account_url"),
        )


@dataclass(frozen=True)
class _Challenge:
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


def _write_file(path: Path, text: str, *, mode: int, replace_existing: bool) -> bool:
    """Write ``text`` to ``path`` whole or not at all: a temporary file created with
    O_EXCL at ``mode``, then renamed over ``path`` or, when ``path`` must not be replaced,
    linked to it (which fails if it exists, so two processes creating the same account
    file cannot both win). False when ``path`` already existed and was kept."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace_existing:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)


def _normal_name(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower().rstrip(".")


def _network_reason(exc: requests.exceptions.RequestException) -> str:
    """The OS's words (``Connection refused``) rather than urllib3's page of wrappers."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    if found:
        return found.group(1).strip()
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed (is ca_bundle right?)"
    return type(exc).__name__


def _describe_problem(problem: messages.Error) -> str:
    """``code for identifier: detail`` for the problem and its subproblems."""

    def one(p: messages.Error) -> str:
        code = p.code or p.typ
        where = f" for {p.identifier.value}" if p.identifier is not None else ""
        detail = p.detail or p.title or p.description or "no detail given"
        return f"{code}{where}: {detail}"

    parts = [one(problem)]
    parts.extend(one(sub) for sub in problem.subproblems or ())
    return "; ".join(parts)


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


class AcmeBackend(CaBackend):
    slug = "acme"
    answers_quickly = False  # challenges take seconds to validate

    def __init__(
        self,
        name: str,
        *,
        settings: AcmeBackendSettings,
        state_dir: Path,
        secret: Callable[[str], str | None],
    ) -> None:
        super().__init__(name)
        self._settings = settings
        self._state_dir = state_dir
        self._secret = secret
        self._hook = shlex.split(settings.hook) if settings.hook else []
        self._lock = threading.Lock()
        self._client: ClientV2 | None = None
        self._state = self._read_state()
        self._chain = self._read_chain()

    @classmethod
    def from_settings(
        cls, name: str, settings: AcmeBackendSettings, context: BackendContext
    ) -> AcmeBackend:
        """Check what can be checked without the network; the CA is first contacted by
        the first order (or revocation), so a CA that is down does not stop start-up."""
        where = f"CA backend {name}"
        if not settings.directory.startswith("https://"):
            raise BackendConfigError(f"{where}: the directory must be an https:// URL")
        if settings.hook is not None:
            try:
                hook_argv = shlex.split(settings.hook)
            except ValueError as exc:
                raise BackendConfigError(f"{where}: hook {settings.hook!r}: {exc}") from None
            if not hook_argv:
                raise BackendConfigError(f"{where}: hook is empty")
        if settings.challenge == "dns-01":
            if settings.hook is None:
                raise BackendConfigError(f"{where}: dns-01 needs a hook to publish TXT records")
            if settings.webroot is not None:
                raise BackendConfigError(f"{where}: webroot serves http-01 only, not dns-01")
        elif settings.webroot is not None and settings.hook is not None:
            raise BackendConfigError(f"{where}: http-01 uses webroot or hook, not both")
        if (settings.eab_kid is None) != (settings.eab_hmac_key_env is None):
            raise BackendConfigError(
                f"{where}: External Account Binding needs both eab_kid and eab_hmac_key_env"
            )
        if settings.ca_bundle is not None and not settings.ca_bundle.is_file():
            raise BackendConfigError(f"{where}: ca_bundle {settings.ca_bundle}: no such file")
        return cls(
            name, settings=settings, state_dir=context.state_dir / name, secret=context.secret
        )

    # -- the CaBackend interface -------------------------------------------------------

    def submit(self, order: CertificateOrder) -> Issued:
        """Order, validate every name, finalize with the order's CSR, and collect.

        Within ``timeout_seconds``; no ``Pending`` is returned, since ACME CAs issue
        within seconds of validation and an order left open is not worth resuming."""
        self._check_names(order)
        deadline = time.monotonic() + self._settings.timeout_seconds
        csr_pem = order.csr.public_bytes(serialization.Encoding.PEM)
        with self._lock:
            client, orderr = self._new_order(csr_pem)
            key = self._account_key()
            planned = self._plan(orderr, key)
            with self._translated("order"), self._presenting(planned, deadline):
                for item in planned:
                    client.answer_challenge(item.body, item.response)
                remaining = max(0.0, deadline - time.monotonic())
                # The acme package compares its deadline with naive local now().
                finished = client.poll_and_finalize(
                    orderr,
                    deadline=datetime.datetime.now() + datetime.timedelta(seconds=remaining),
                )
            issued = self._issued(finished.fullchain_pem, order.csr)
        logger.info(
            "CA backend %s: issued serial %x for %s",
            self.name,
            issued.certificate.serial_number,
            ", ".join(order.names),
        )
        return issued

    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        """revokeCert signed with the account key (the account that ordered it). A
        certificate the CA already revoked is what the caller wants: not an error."""
        with self._lock:
            client = self._connect()
            with self._translated("revoke"):
                try:
                    client.revoke(certificate, int(reason))
                except messages.Error as problem:
                    if problem.code != "alreadyRevoked":
                        raise
                    logger.info(
                        "CA backend %s: serial %x was already revoked",
                        self.name,
                        certificate.serial_number,
                    )

    def chain(self) -> tuple[x509.Certificate, ...]:
        """The chain served with the last certificate this backend obtained (kept in the
        state folder across restarts); empty before the first one. ACME has no request
        for a CA's chain alone, and a CA may change intermediates at any time, so each
        ``Issued`` carries the chain that came with it and this is only the latest."""
        return self._chain

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            **super().describe(),
            "directory": self._settings.directory,
            "challenge": self._settings.challenge,
            "external_account_binding": self._settings.eab_kid is not None,
            "chain": (
                "as served with the last certificate issued"
                if self._chain
                else "none yet: an ACME CA serves its chain with each certificate"
            ),
        }
        account_url = self._known_account_url()
        if account_url is not None:
            info["account"] = account_url
        return info

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.net.session.close()
                self._client = None

    # -- account -----------------------------------------------------------------------

    @property
    def _account_path(self) -> Path:
        return self._state_dir / ACCOUNT_FILE

    def _read_state(self) -> _AccountState | None:
        try:
            return _AccountState.loads(self._account_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, JoseError) as exc:
            raise BackendConfigError(f"cannot read {self._account_path}: {exc}") from None

    def _load_or_create_state(self) -> _AccountState:
        """The account key: read, or made once (EC P-256) and written 0600 with O_EXCL."""
        if self._state is not None:
            return self._state
        try:
            self._state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
            created = _write_file(
                self._account_path,
                _AccountState(key).dumps(),
                mode=0o600,
                replace_existing=False,
            )
        except OSError as exc:
            raise BackendConfigError(f"cannot write {self._account_path}: {exc.strerror}") from None
        if created:
            logger.info("CA backend %s: new ACME account key in %s", self.name, self._account_path)
        state = self._read_state()  # another process may have made it first: use theirs
        if state is None:
            raise BackendConfigError(f"{self._account_path} vanished")
        self._state = state
        return state

    def _save_state(self, state: _AccountState) -> None:
        try:
            _write_file(self._account_path, state.dumps(), mode=0o600, replace_existing=True)
        except OSError as exc:
            raise BackendConfigError(f"cannot write {self._account_path}: {exc.strerror}") from None
        self._state = state

    def _account_key(self) -> JWK:
        return self._load_or_create_state().key

    def _known_account_url(self) -> str | None:
        state = self._state
        if state is None or state.directory != self._settings.directory:
            return None
        return state.account_url

    def _connect(self) -> ClientV2:
        """The client, made on first use: directory fetched, account registered once."""
        if self._client is not None:
            return self._client
        state = self._load_or_create_state()
        settings = self._settings
        # requests takes a CA bundle path where acme annotates ``verify_ssl`` as a bool.
        verify = cast(bool, str(settings.ca_bundle)) if settings.ca_bundle else True
        net = _Network(
            state.key,
            alg=ES256 if isinstance(state.key, JWKEC) else RS256,
            verify_ssl=verify,
            user_agent=USER_AGENT,
            timeout=max(1, min(MAX_REQUEST_SECONDS, math.ceil(settings.timeout_seconds))),
        )
        with self._translated("directory"):
            client = ClientV2(ClientV2.get_directory(settings.directory, net), net)
        account_url = self._known_account_url()
        if account_url is not None:
            net.account = messages.RegistrationResource(
                body=messages.Registration(), uri=account_url
            )
        else:
            self._register(client, state)
        self._client = client
        return client

    def _register(self, client: ClientV2, state: _AccountState) -> None:
        """newAccount with the contact, the CA's terms agreed (configuring a CA is
        agreeing to them), and External Account Binding when a kid is configured."""
        settings = self._settings
        binding: dict[str, Any] | None = None
        if settings.eab_kid is not None and settings.eab_hmac_key_env is not None:
            hmac_key = self._secret(settings.eab_hmac_key_env)
            if not hmac_key:
                raise BackendConfigError(
                    f"the variable {settings.eab_hmac_key_env} (the EAB HMAC key) is not set"
                )
            try:
                binding = messages.ExternalAccountBinding.from_data(
                    account_public_key=state.key.public_key(),
                    kid=settings.eab_kid,
                    hmac_key=hmac_key,
                    directory=client.directory,
                )
            except ValueError:
                raise BackendConfigError(
                    f"the variable {settings.eab_hmac_key_env} does not hold a base64url HMAC key"
                ) from None
        elif client.external_account_required():
            raise BackendConfigError(
                "the CA requires External Account Binding: set eab_kid and eab_hmac_key_env"
            )
        fields: dict[str, Any] = {"terms_of_service_agreed": True}
        if settings.contact:
            fields["contact"] = tuple(settings.contact)
        registration = messages.NewRegistration.from_data(
            external_account_binding=binding, **fields
        )
        with self._translated("account"):
            try:
                account_url = client.new_account(registration).uri
            except errors.ConflictError as existing:
                # The CA already has an account for this key (its URL was lost, or
                # another process registered it a moment ago): that account is ours.
                account_url = existing.location
                client.net.account = messages.RegistrationResource(
                    body=messages.Registration(), uri=account_url
                )
        logger.info("CA backend %s: ACME account %s", self.name, account_url)
        self._save_state(replace(state, directory=settings.directory, account_url=account_url))

    def _forget_account(self) -> None:
        state = self._load_or_create_state()
        self._save_state(replace(state, account_url=None))
        self._client = None

    # -- orders ------------------------------------------------------------------------

    def _check_names(self, order: CertificateOrder) -> None:
        """ACME certifies the CSR's names (its CN and SANs), nothing else: an order for
        other names cannot be served by any ACME CA, so it is refused here."""
        dns_names, ip_addresses = get_identifiers_from_x509(order.csr.subject, order.csr.extensions)
        in_csr = {_normal_name(n) for n in [*dns_names, *ip_addresses]}
        ordered = {_normal_name(n) for n in order.names}
        if not ordered or in_csr != ordered:
            raise BackendRefusedError(
                f"an ACME CA certifies exactly the CSR's names "
                f"({', '.join(sorted(in_csr)) or 'none'}), not {', '.join(sorted(ordered))}"
            )

    def _new_order(self, csr_pem: bytes) -> tuple[ClientV2, messages.OrderResource]:
        client = self._connect()
        with self._translated("order"):
            try:
                return client, client.new_order(csr_pem)
            except messages.Error as problem:
                if problem.code != "accountDoesNotExist":
                    raise
        # The CA no longer knows the account in our state (a test CA restarted, or the
        # account was removed): register the same key again, once.
        logger.warning("CA backend %s: the CA forgot our account; registering again", self.name)
        self._forget_account()
        client = self._connect()
        with self._translated("order"):
            return client, client.new_order(csr_pem)

    def _plan(self, orderr: messages.OrderResource, key: JWK) -> list[_Challenge]:
        """The configured challenge of every authorization still to be validated."""
        wanted = self._settings.challenge
        planned: list[_Challenge] = []
        for authzr in orderr.authorizations:
            authz = authzr.body
            identifier = str(authz.identifier.value)
            if authz.status == messages.STATUS_VALID:
                continue  # the CA remembers a recent validation of this name
            if authz.status != messages.STATUS_PENDING:
                raise BackendRefusedError(
                    f"the authorization for {identifier} is {authz.status.name}"
                )
            offered = [challb for challb in authz.challenges if challb.chall.typ == wanted]
            if not offered:
                types = ", ".join(sorted(str(c.chall.typ) for c in authz.challenges)) or "none"
                raise BackendRefusedError(
                    f"the CA offers no {wanted} challenge for {identifier} (it offers: {types})"
                )
            challb = offered[0]
            token = str(challb.chall.encode("token"))
            if not TOKEN.match(token):
                raise BackendRefusedError(
                    f"the CA sent a malformed challenge token for {identifier}"
                )
            response, validation = challb.chall.response_and_validation(key)
            planned.append(_Challenge(identifier, challb, response, str(validation), token))
        return planned

    @contextlib.contextmanager
    def _presenting(self, planned: Sequence[_Challenge], deadline: float) -> Iterator[None]:
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
    def _responding(self, planned: Sequence[_Challenge]) -> Iterator[None]:
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
            name=f"acme-http-01-{self.name}",
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
    def _webroot_presenting(self, planned: Sequence[_Challenge], webroot: Path) -> Iterator[None]:
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
    def _hook_presenting(self, planned: Sequence[_Challenge], deadline: float) -> Iterator[None]:
        """``HOOK present`` for each challenge, ``HOOK cleanup`` for each one tried, even
        when the order failed. A failing cleanup is logged: it must not hide the order's
        outcome."""
        tried: list[_Challenge] = []
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

    def _run_hook(self, action: str, item: _Challenge, seconds: float) -> None:
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

    def _issued(self, fullchain_pem: str, csr: x509.CertificateSigningRequest) -> Issued:
        """Leaf and chain from the CA's PEM (leaf first, then issuing CA upwards)."""
        try:
            certificates = x509.load_pem_x509_certificates(fullchain_pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise BackendUnavailableError("the CA's certificate chain could not be read") from None
        leaf, chain = certificates[0], tuple(certificates[1:])
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if leaf.public_key().public_bytes(*spki) != csr.public_key().public_bytes(*spki):
            raise BackendRefusedError("the CA returned a certificate for another key")
        self._remember_chain(chain)
        return Issued(certificate=leaf, chain=chain)

    def _read_chain(self) -> tuple[x509.Certificate, ...]:
        try:
            return tuple(
                x509.load_pem_x509_certificates((self._state_dir / CHAIN_FILE).read_bytes())
            )
        except (OSError, ValueError):
            return ()

    def _remember_chain(self, chain: tuple[x509.Certificate, ...]) -> None:
        self._chain = chain
        text = "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in chain)
        try:
            _write_file(self._state_dir / CHAIN_FILE, text, mode=0o644, replace_existing=True)
        except OSError as exc:  # only describe() and a restart's chain() lose by this
            logger.warning("CA backend %s: cannot keep the chain: %s", self.name, exc)

    # -- errors ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translated(self, stage: str) -> Iterator[None]:
        """acme's, josepy's and requests' errors as the backend errors the service
        acts on; ``stage`` is "directory", "account", "order" or "revoke"."""
        try:
            yield
        except BackendError:
            raise
        except (errors.Error, requests.exceptions.RequestException, JoseError) as exc:
            raise self._translate(exc, stage) from exc

    def _translate(self, exc: Exception, stage: str) -> BackendError:
        if isinstance(exc, _ServerError):
            return BackendUnavailableError(
                f"the CA failed (HTTP {exc.status}): {_describe_problem(exc.problem)}"
            )
        if isinstance(exc, requests.exceptions.Timeout):
            return BackendUnavailableError(f"{self._settings.directory} did not answer in time")
        if isinstance(exc, requests.exceptions.RequestException):
            return BackendUnavailableError(
                f"cannot reach {self._settings.directory}: {_network_reason(exc)}"
            )
        if isinstance(exc, errors.ValidationError):
            return BackendRefusedError(f"validation failed: {self._failures(exc)}")
        if isinstance(exc, errors.TimeoutError | errors.PollError):
            return BackendUnavailableError(
                f"the CA did not validate and issue within {self._settings.timeout_seconds:g} s"
            )
        if isinstance(exc, errors.IssuanceError):
            return self._from_problem(exc.error, stage)
        if isinstance(exc, messages.Error):
            return self._from_problem(exc, stage)
        if isinstance(exc, errors.ClientError):
            answer = exc.args[0] if exc.args else None
            if isinstance(answer, requests.Response):
                return BackendUnavailableError(
                    f"unexpected answer from the CA (HTTP {answer.status_code})"
                )
            return BackendUnavailableError(f"unexpected answer from the CA: {exc}")
        if isinstance(exc, JoseError):
            return BackendUnavailableError(f"could not read the CA's answer: {exc}")
        return BackendRefusedError(f"the CA did not issue: {exc}")

    def _from_problem(self, problem: messages.Error, stage: str) -> BackendError:
        text = _describe_problem(problem)
        code = problem.code
        if code in RETRYABLE_PROBLEMS:
            return BackendUnavailableError(text)
        if code in ACCOUNT_PROBLEMS or (
            stage in {"account", "directory"} and (code in REGISTRATION_PROBLEMS or code is None)
        ):
            return BackendConfigError(text)
        return BackendRefusedError(text)

    @staticmethod
    def _failures(exc: errors.ValidationError) -> str:
        parts: list[str] = []
        for authzr in exc.failed_authzrs:
            identifier = authzr.body.identifier.value
            for challb in authzr.body.challenges:
                if challb.error is not None:
                    parts.append(
                        f"{identifier} ({challb.chall.typ}): {_describe_problem(challb.error)}"
                    )
        return "; ".join(parts) or "the CA gave no reason"
