"""The JSON shapes of the issuance API, as pydantic models: they validate requests and
write the OpenAPI document. Field names are an interface (docs/issuance.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from issuance.settings import DEFAULT_PROFILE


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IssueBody(_Body):
    csr: str = Field(description="PKCS#10 request, PEM", max_length=32 * 1024)
    profile: str = Field(default=DEFAULT_PROFILE, max_length=64)
    sans: list[str] | None = Field(
        default=None,
        max_length=1000,
        description="names to certify: equal to or a subset of the CSR's (default: all)",
    )
    validity_days: int | None = Field(
        default=None, ge=1, le=398, description="within the profile's bounds"
    )


class RenewBody(_Body):
    csr: str = Field(description="a CSR with a NEW key and the same names, PEM", max_length=32768)


class RevokeBody(_Body):
    reason: str | int = Field(
        default="unspecified",
        description="RFC 5280 CRLReason name (keyCompromise, superseded, ...) or code",
    )


class RenewalWindow(BaseModel):
    start: str
    end: str


class CertificateResponse(BaseModel):
    issuer: str = Field(description="the issuing CA's issuer_key_sha1 (hex)")
    serial: str = Field(description="lowercase hex")
    status: str = Field(description="good | revoked")
    profile: str
    ca_backend: str
    requester: str
    names: list[str]
    not_before: str
    not_after: str
    renewal: RenewalWindow
    certificate: str | None = Field(description="the leaf, PEM")
    chain: str | None = Field(description="issuing CA up to the root, PEM")
    request_id: str | None
    revoked_at: str | None
    revocation_reason: str | None


class OrderResponse(BaseModel):
    order: str
    status: str = Field(description="processing | pending | invalid")
    retry_after: int | None = None
    problem: dict[str, object] | None = None


class ProblemResponse(BaseModel):
    """RFC 9457 problem details (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str


class ProfileResponse(BaseModel):
    name: str
    validity_days: int
    min_validity_days: int
    max_validity_days: int
    renewal_fraction: float
    key_types: list[str]
    min_rsa_bits: int
    ec_curves: list[str]
    ekus: list[str]
    backends: list[str]
    max_names: int
