"""The certificate store: what the OCSP and CRL services read, what issuance writes."""

from pki.store.base import (
    AlreadyRevokedError,
    CertificateExistsError,
    CertificateNotFoundError,
    CertificateRecord,
    CertificateStore,
    CertStatus,
    Change,
    StoreError,
    StoreUnavailableError,
)

__all__ = [
    "AlreadyRevokedError",
    "CertStatus",
    "CertificateExistsError",
    "CertificateNotFoundError",
    "CertificateRecord",
    "CertificateStore",
    "Change",
    "StoreError",
    "StoreUnavailableError",
]
