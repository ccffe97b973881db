"""What the API answers with: a certificate and its renewal window, or an order.

Field names are an interface (docs/issuance.md): agents and pipelines parse them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from issuance.early_renewal import EarlyRenewal, RenewalWindow, describe
from pki.store.base import CertificateRecord


def renewal_window(
    not_before: datetime, not_after: datetime, fraction: float
) -> tuple[datetime, datetime]:
    """Renew from ``fraction`` of the lifetime (2/3 by default, as step-ca, cert-manager
    and Let's Encrypt advise) until halfway from there to expiry, which leaves the
    second half of the remaining time for retries before an outage."""
    lifetime = not_after - not_before
    start = not_before + lifetime * fraction
    end = start + (not_after - start) / 2
    return start, end


@dataclass(frozen=True)
class CertificateView:
    issuer: str
    serial: str
    status: str
    profile: str
    ca_backend: str
    requester: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    renewal_start: datetime
    renewal_end: datetime
    certificate: str | None
    chain: str | None
    request_id: str | None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    # why the window was moved before the profile's (issuance/early_renewal.py); empty
    # when it was not
    early_renewal: tuple[EarlyRenewal, ...] = ()

    @property
    def renewal_reason(self) -> str | None:
        """One line saying why the certificate is due early (ARI's explanation), or None."""
        return describe(self.early_renewal)

    @classmethod
    def build(
        cls,
        record: CertificateRecord,
        *,
        certificate: str | None,
        chain: str | None,
        window: RenewalWindow,
        request_id: str | None,
    ) -> CertificateView:
        return cls(
            issuer=record.issuer_key_sha1,
            serial=record.serial,
            status=record.status.value,
            profile=record.profile,
            ca_backend=record.ca_backend,
            requester=record.requester,
            names=record.sans,
            not_before=record.not_before,
            not_after=record.not_after,
            renewal_start=window.start,
            renewal_end=window.end,
            certificate=certificate,
            chain=chain,
            request_id=request_id,
            revoked_at=record.revoked_at,
            revocation_reason=(
                record.revocation_reason.name if record.revocation_reason is not None else None
            ),
            early_renewal=window.early,
        )

    def body(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "serial": self.serial,
            "status": self.status,
            "profile": self.profile,
            "ca_backend": self.ca_backend,
            "requester": self.requester,
            "names": list(self.names),
            "not_before": _time(self.not_before),
            "not_after": _time(self.not_after),
            "renewal": {
                "start": _time(self.renewal_start),
                "end": _time(self.renewal_end),
                "early": [item.body() for item in self.early_renewal],
            },
            "certificate": self.certificate,
            "chain": self.chain,
            "request_id": self.request_id,
            "revoked_at": _time(self.revoked_at) if self.revoked_at else None,
            "revocation_reason": self.revocation_reason,
        }


@dataclass(frozen=True)
class OrderView:
    order_id: str
    status: str  # processing | pending | invalid
    retry_after: int = 5
    problem: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        document: dict[str, Any] = {"order": self.order_id, "status": self.status}
        if self.status == "invalid":
            document["problem"] = self.problem
        else:
            document["retry_after"] = self.retry_after
        return document


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
