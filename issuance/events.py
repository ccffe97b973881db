"""Issuance events in RAW (``raw/issuance/``): how the LAKE's inventory learns who
obtained which certificate, through which backend, and what was revoked.

The same record shape as ``certsight issue`` writes (issuance.operations), plus the
request id and, for a renewal, the serial it replaces.
"""

from __future__ import annotations

from typing import Any

from pki.rawlog import event_time
from pki.store.base import CertificateRecord


def certificate_fields(record: CertificateRecord) -> dict[str, Any]:
    return {
        "issuer_key_sha1": record.issuer_key_sha1,
        "serial": record.serial,
        "subject": record.subject,
        "sans": list(record.sans),
        "not_before": event_time(record.not_before),
        "not_after": event_time(record.not_after),
        "key_algorithm": record.key_algorithm,
        "profile": record.profile,
        "requester": record.requester,
        "ca_backend": record.ca_backend,
    }


def certificate_event(
    event: str,
    record: CertificateRecord,
    *,
    request_id: str | None = None,
    certificate_pem: str | None = None,
    renews: str | None = None,
    revoked_by: str | None = None,
) -> dict[str, Any]:
    """``issued`` or ``renewed`` (a new certificate) or ``revoked``. ``requester`` is who
    obtained the certificate; ``revoked_by`` who revoked it."""
    moment = record.revoked_at if event == "revoked" else record.issued_at
    assert moment is not None
    document: dict[str, Any] = {
        "log": "issuance",
        "event": event,
        "event_time": event_time(moment),
        **certificate_fields(record),
    }
    if request_id:
        document["request_id"] = request_id
    if event == "revoked":
        assert record.revocation_reason is not None
        document["revoked_at"] = event_time(moment)
        document["revocation_reason"] = record.revocation_reason.name
    else:
        document["issued_at"] = event_time(moment)
        if certificate_pem:
            document["certificate_pem"] = certificate_pem
    if renews:
        document["renews"] = renews
    if revoked_by:
        document["revoked_by"] = revoked_by
    return document
