"""What the issuance tests share: CSRs made with cryptography, a home with its CA, and
CA backends that behave as a test needs (collaborators passed in, nothing patched)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from issuance.backends.base import (
    BackendRefusedError,
    BackendUnavailableError,
    CaBackend,
    CertificateOrder,
    Issued,
    Pending,
    SubmitResult,
)
from pki.reasons import RevocationReason

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_csr(
    names: Sequence[str],
    *,
    key: PrivateKey | None = None,
    common_name: str | None = None,
    sans: bool = True,
) -> tuple[str, PrivateKey]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or names[0])])
    )
    if sans:
        import ipaddress

        general: list[x509.GeneralName] = []
        for name in names:
            try:
                general.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                general.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


class ScriptedBackend(CaBackend):
    """Delegates to another backend, or fails as told: for fallback and order tests."""

    slug = "scripted"

    def __init__(
        self,
        name: str,
        *,
        inner: CaBackend | None = None,
        fail: type[Exception] | None = None,
        pending_polls: int = 0,
        slow: bool = False,
    ) -> None:
        super().__init__(name)
        self.inner = inner
        self.fail = fail
        self.pending_polls = pending_polls
        self.submitted: list[CertificateOrder] = []
        self.revoked: list[tuple[int, RevocationReason]] = []
        self._parked: dict[str, CertificateOrder] = {}
        self.answers_quickly = not slow  # type: ignore[misc]
        self.release = None

    def submit(self, order: CertificateOrder) -> SubmitResult:
        self.submitted.append(order)
        if self.fail is BackendUnavailableError:
            raise BackendUnavailableError(f"{self.name} is down")
        if self.fail is BackendRefusedError:
            raise BackendRefusedError(f"{self.name} refuses {order.common_name}")
        if self.pending_polls:
            self._parked[order.request_id] = order
            return Pending(reference=f"ref-{order.request_id}", retry_after=2)
        assert self.inner is not None
        result = self.inner.submit(order)
        assert isinstance(result, Issued)
        return result

    def poll(self, reference: str) -> SubmitResult:
        if self.pending_polls > 0:
            self.pending_polls -= 1
            return Pending(reference=reference, retry_after=2)
        order = self._parked[reference.removeprefix("ref-")]
        assert self.inner is not None
        result = self.inner.submit(order)
        assert isinstance(result, Issued)
        return result

    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        self.revoked.append((certificate.serial_number, reason))

    def chain(self) -> tuple[x509.Certificate, ...]:
        return self.inner.chain() if self.inner else ()
