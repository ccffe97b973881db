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

The account (key, state file, registration) is in ``acme_account``, the ways of
answering challenges in ``acme_challenges``, and what the CA's errors mean for the order
in ``acme_errors``; this module is the backend itself and the order flow.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from acme import messages
from acme.client import ClientV2
from acme.crypto_util import get_identifiers_from_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from issuance.backends.acme_account import AcmeAccount, write_file
from issuance.backends.acme_challenges import ChallengePresenter, plan
from issuance.backends.acme_errors import translated
from issuance.backends.base import (
    BackendConfigError,
    BackendContext,
    BackendRefusedError,
    BackendUnavailableError,
    CaBackend,
    CertificateOrder,
    Issued,
)
from issuance.backends.settings import AcmeBackendSettings
from pki.reasons import RevocationReason

logger = logging.getLogger(__name__)

CHAIN_FILE = "chain.pem"


def _normal_name(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower().rstrip(".")


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
        self._presenter = ChallengePresenter(name, settings)
        self._account = AcmeAccount(name, settings=settings, state_dir=state_dir, secret=secret)
        self._lock = threading.Lock()
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
            key = self._account.key()
            planned = plan(orderr, key, self._settings.challenge)
            with self._translated("order"), self._presenter.presenting(planned, deadline):
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
            client = self._account.client()
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
        account_url = self._account.known_url()
        if account_url is not None:
            info["account"] = account_url
        return info

    def close(self) -> None:
        with self._lock:
            self._account.close()

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
        client = self._account.client()
        with self._translated("order"):
            try:
                return client, client.new_order(csr_pem)
            except messages.Error as problem:
                if problem.code != "accountDoesNotExist":
                    raise
        # The CA no longer knows the account in our state (a test CA restarted, or the
        # account was removed): register the same key again, once.
        logger.warning("CA backend %s: the CA forgot our account; registering again", self.name)
        self._account.forget()
        client = self._account.client()
        with self._translated("order"):
            return client, client.new_order(csr_pem)

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
            write_file(self._state_dir / CHAIN_FILE, text, mode=0o644, replace_existing=True)
        except OSError as exc:  # only describe() and a restart's chain() lose by this
            logger.warning("CA backend %s: cannot keep the chain: %s", self.name, exc)

    # -- errors ------------------------------------------------------------------------

    def _translated(self, stage: str) -> contextlib.AbstractContextManager[None]:
        """The CA's errors as backend errors (see ``acme_errors``)."""
        return translated(stage, self._settings)
