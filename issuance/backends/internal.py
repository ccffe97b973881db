"""The internal CA: a CA certificate on this host, its key in a file or in AWS KMS.

With no settings it is the home CA (``HOME/pki``): the same issuing CA as
``certsight issue``, so its certificates are answered for by certsight's own OCSP
responder and listed in its CRLs.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509

from issuance.backends.base import (
    BackendConfigError,
    BackendContext,
    BackendRefusedError,
    BackendUnavailableError,
    CaBackend,
    CertificateOrder,
    Issued,
)
from issuance.backends.settings import InternalBackendSettings
from issuance.signers import KmsSigner, KmsSignerError, open_issuing_signer
from pki.certificates import IssuanceError, issue_certificate
from pki.identity import key_sha1
from pki.keys import SigningKey
from pki.layout import CaConfig
from pki.pem import load_pem_certificate, load_pem_certificates
from pki.reasons import RevocationReason


class InternalBackend(CaBackend):
    slug = "internal"

    def __init__(
        self,
        name: str,
        *,
        issuing_cert: x509.Certificate,
        chain: tuple[x509.Certificate, ...],
        key: SigningKey,
        config: CaConfig,
    ) -> None:
        super().__init__(name)
        self._issuing_cert = issuing_cert
        self._chain = chain
        self._key = key
        self._config = config
        self._issuer_key_sha1 = key_sha1(issuing_cert)

    @classmethod
    def from_settings(
        cls, name: str, settings: InternalBackendSettings, context: BackendContext
    ) -> InternalBackend:
        layout = context.layout
        try:
            config = layout.read_config()
            cert_path = settings.certificate or layout.issuing_cert
            issuing_cert = load_pem_certificate(cert_path)
            chain = tuple(load_pem_certificates(settings.chain or layout.chain))
            key = open_issuing_signer(
                layout,
                key=settings.key,
                kms_key_id=settings.kms_key_id,
                region=settings.region,
                endpoint_url=settings.endpoint_url,
            )
        except (FileNotFoundError, ValueError) as exc:
            raise BackendConfigError(f"CA backend {name}: {exc}") from exc
        if not chain or chain[0].subject != issuing_cert.subject:
            chain = (issuing_cert, *chain)
        return cls(name, issuing_cert=issuing_cert, chain=chain, key=key, config=config)

    def submit(self, order: CertificateOrder) -> Issued:
        try:
            issued = issue_certificate(
                common_name=order.common_name,
                sans=list(order.names),
                validity=order.validity,
                issuing_cert=self._issuing_cert,
                issuing_key=self._key,
                config=self._config,
                now=order.now,
                csr=order.csr,
                requester=order.requester,
                profile=order.profile,
                ekus=order.ekus,
                ca_backend=self.name,
                csr_verified=True,  # the service verified it before accepting the order
                issuer_key_sha1=self._issuer_key_sha1,
            )
        except IssuanceError as exc:
            raise BackendRefusedError(str(exc)) from exc
        except KmsSignerError as exc:  # the key is in KMS: throttled, unreachable, disabled
            if exc.transient:
                raise BackendUnavailableError(str(exc)) from exc
            raise BackendConfigError(str(exc)) from exc
        return Issued(certificate=issued.certificate, chain=self._chain, record=issued.record)

    @property
    def certifies_csr_as_is(self) -> bool:
        return False  # subject and SANs come from the order, only the key from the CSR

    @property
    def runs_locally(self) -> bool:
        return not isinstance(self._key, KmsSigner)

    def revoke(self, certificate: x509.Certificate, reason: RevocationReason) -> None:
        """Nothing to tell: the store the service writes is what OCSP and the CRL read."""

    def chain(self) -> tuple[x509.Certificate, ...]:
        return self._chain

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "subject": self._issuing_cert.subject.rfc4514_string(),
            "issuer_key_sha1": self._issuer_key_sha1,
            "not_after": self._issuing_cert.not_valid_after_utc.isoformat(),
            "key": "kms" if isinstance(self._key, KmsSigner) else "file",
        }
