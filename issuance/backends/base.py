"""What every CA backend offers the issuance service: submit, poll, revoke, chain.

A backend turns an order that policy has already accepted (names checked, validity
within the profile's bounds, key acceptable) into a certificate, now or later. It
never decides *whether* to issue; that is the service's job. The two ways a backend
can fail matter to the caller: ``BackendUnavailableError`` (could not be reached, timed
out, throttled) lets the service fall back to the profile's next backend, while
``BackendRefusedError`` (the CA looked at the request and said no) ends the order,
since another CA saying yes would defeat the first one's judgement.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509

from pki.layout import PkiLayout
from pki.reasons import RevocationReason
from pki.store.base import CertificateRecord


class BackendError(Exception):
    """Base of what a backend raises; the message is safe to show to the requester."""


class BackendUnavailableError(BackendError):
    """The CA could not be reached or did not answer in time: try the next backend."""


class BackendRefusedError(BackendError):
    """The CA refused this request (bad CSR, policy of its own, quota): do not fall back."""


class BackendConfigError(BackendError):
    """The backend's settings cannot work (missing key, unknown CA ARN...)."""


@dataclass(frozen=True)
class CertificateOrder:
    """An accepted request, as a backend receives it: the CSR's signature has been
    verified, its key judged against the profile, and its names checked by policy.

    ``names`` are the SANs to certify (DNS names and IP addresses as text, already
    checked by policy); ``common_name`` is the first of them. ``ekus`` are names from
    ``pki.certificates.EKU_OIDS``.
    """

    request_id: str
    csr: x509.CertificateSigningRequest
    common_name: str
    names: tuple[str, ...]
    validity: timedelta
    profile: str
    ekus: tuple[str, ...]
    requester: str
    now: datetime


@dataclass(frozen=True)
class Issued:
    """A certificate and the CA certificates above it, issuing CA first, root last.

    ``record`` is the inventory row when the backend built the certificate itself (the
    internal CA knows every field already); otherwise the service derives it."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    record: CertificateRecord | None = None


@dataclass(frozen=True)
class Pending:
    """The CA accepted the order and will issue later: ``poll(reference)`` collects it.

    ``reference`` is opaque to the service (a PCA certificate ARN, an ACME order URL)
    and is stored with the order, so polling works from any process.
    """

    reference: str
    retry_after: int = 5


SubmitResult = Issued | Pending


@dataclass(frozen=True)
class BackendContext:
    """What backends may use from the host: the home CA's files, a clock, a private
    folder for their own state (ACME account keys), and secrets from the environment."""

    layout: PkiLayout
    state_dir: Path
    clock: Callable[[], datetime]
    secret: Callable[[str], str | None] = field(default=lambda _name: None)


class CaBackend(ABC):
    """One configured CA. ``slug`` is the ``type`` in ``[issuance.backends.NAME]``;
    ``name`` is the configured NAME that profiles list and events record."""

    slug: ClassVar[str]
    # False for a backend whose submit() may take many seconds (an upstream ACME CA
    # validating challenges): the service then runs it on a worker and hands the caller
    # an order to collect instead of holding the request open.
    answers_quickly: ClassVar[bool] = True

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def certifies_csr_as_is(self) -> bool:
        """True for a CA that copies the CSR's subject and names into the certificate
        (AWS Private CA's usual templates, ACME): the service then sends it only CSRs
        that hold exactly the accepted names."""
        return True

    @property
    def runs_locally(self) -> bool:
        """True when ``submit`` does no network I/O (a key file on this host): an async
        caller may then run it on its event loop instead of handing it to a thread."""
        return False

    @abstractmethod
    def submit(self, order: CertificateOrder) -> SubmitResult:
        """Issue, or accept for later. Raises ``BackendUnavailableError`` or
        ``BackendRefusedError``."""

    def poll(self, reference: str) -> SubmitResult:
        """Collect an order that ``submit`` left pending."""
        raise BackendRefusedError(f"CA backend {self.name} does not issue asynchronously")

    @abstractmethod
    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        """Tell the CA. The service records the revocation in the store either way."""

    @abstractmethod
    def chain(self) -> tuple[x509.Certificate, ...]:
        """The CA certificates this backend issues under, issuing CA first."""

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/cas`` shows: no secrets, no key material."""
        return {"name": self.name, "type": self.slug}

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release connections and background resources."""
