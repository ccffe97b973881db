"""The ``[issuance]`` table of certsight.toml: profiles, name policy, CA backends.

With no table at all, one profile exists (``tls-server``: serverAuth and clientAuth,
30 days, the home CA) and one backend (``internal``: the home CA), and any name that
is not a public suffix may be asked for within a token's own patterns.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from issuance.backends.settings import BackendSettings, InternalBackendSettings
from issuance.patterns import PatternError, parse_pattern
from pki.certificates import EKU_OIDS

DEFAULT_PROFILE = "tls-server"
DEFAULT_BACKEND = "internal"
DEFAULT_RATE_LIMIT = "60/minute"
_SHA1_HEX = re.compile(r"[0-9a-fA-F]{40}")

KeyKind = Literal["ec", "rsa", "ed25519"]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def check_rate_limit(value: str) -> str:
    """``N/second|minute|hour|day`` (the ``limits`` library's notation)."""
    from limits import parse_many

    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"rate limit {value!r} is not like '60/minute' or '1000/day'") from None
    return value


class Profile(_Table):
    """What a certificate of this profile looks like and where it comes from."""

    validity_days: int = Field(default=30, ge=1, le=398)
    min_validity_days: int = Field(default=1, ge=1, le=398)
    max_validity_days: int | None = Field(default=None, ge=1, le=398)  # default: validity_days
    renewal_fraction: float = Field(default=2 / 3, gt=0, lt=1)
    key_types: list[KeyKind] = ["ec", "rsa"]
    min_rsa_bits: int = Field(default=2048, ge=2048, le=16384)
    ec_curves: list[Literal["secp256r1", "secp384r1", "secp521r1"]] = [
        "secp256r1",
        "secp384r1",
    ]
    ekus: list[str] = ["serverAuth", "clientAuth"]
    backends: list[str] = [DEFAULT_BACKEND]
    max_names: int = Field(default=100, ge=1, le=1000)

    @field_validator("ekus")
    @classmethod
    def _known_ekus(cls, value: list[str]) -> list[str]:
        unknown = [eku for eku in value if eku not in EKU_OIDS]
        if unknown or not value:
            raise ValueError(
                f"extended key usages must be among {', '.join(EKU_OIDS)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            )
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Profile:
        upper = self.upper_validity_days
        if not self.min_validity_days <= self.validity_days <= upper:
            raise ValueError(
                "validity_days must lie within min_validity_days and max_validity_days"
            )
        if not self.key_types or not self.backends:
            raise ValueError("a profile needs at least one key type and one backend")
        return self

    @property
    def upper_validity_days(self) -> int:
        return self.max_validity_days or self.validity_days


class PrincipalPolicy(_Table):
    """What an AWS IAM principal (the issuance Lambda's Function URL caller) may obtain."""

    arn: str = Field(min_length=1)
    allow: list[str] = Field(min_length=1)
    profiles: list[str] = [DEFAULT_PROFILE]
    rate_limit: str = DEFAULT_RATE_LIMIT

    @field_validator("allow")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        return check_rate_limit(value)


class EarlyRenewalSettings(_Table):
    """``[issuance.early_renewal]``: certificates due for replacement before their
    profile's window (issuance/early_renewal.py)."""

    # CA backend names, or issuer key SHA-1s (hex), whose certificates are all due now
    retiring_cas: list[str] = []
    # how long a moved window lasts: clients pick a random time inside it
    window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)


class IssuanceSettings(_Table):
    """``[issuance]``."""

    domains: list[str] = []  # the enterprise's names: suffixes and IP CIDRs
    deny: list[str] = []  # patterns that no token or principal overrides
    rate_limit: str = DEFAULT_RATE_LIMIT  # default for new tokens
    max_body_bytes: int = Field(default=64 * 1024, ge=4096, le=1024 * 1024)
    profiles: dict[str, Profile] = Field(default_factory=dict)
    backends: dict[str, BackendSettings] = Field(default_factory=dict)
    principals: dict[str, PrincipalPolicy] = Field(default_factory=dict)
    early_renewal: EarlyRenewalSettings = EarlyRenewalSettings()

    @field_validator("domains", "deny")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        return check_rate_limit(value)

    @model_validator(mode="after")
    def _references(self) -> IssuanceSettings:
        backends = self.all_backends()
        for name, profile in self.all_profiles().items():
            missing = [b for b in profile.backends if b not in backends]
            if missing:
                raise ValueError(
                    f"profile {name} names unknown backends {', '.join(missing)}; "
                    f"known: {', '.join(sorted(backends))}"
                )
        profiles = self.all_profiles()
        for key, principal in self.principals.items():
            unknown = [p for p in principal.profiles if p not in profiles]
            if unknown:
                raise ValueError(f"principal {key} names unknown profiles {', '.join(unknown)}")
        for retiring in self.early_renewal.retiring_cas:
            if retiring not in backends and not _SHA1_HEX.fullmatch(retiring):
                raise ValueError(
                    f"early_renewal.retiring_cas: {retiring!r} is neither a CA backend "
                    f"({', '.join(sorted(backends))}) nor an issuer key SHA-1 (40 hex digits)"
                )
        return self

    def all_profiles(self) -> dict[str, Profile]:
        """The configured profiles, with ``tls-server`` present unless redefined."""
        return {DEFAULT_PROFILE: Profile(), **self.profiles}

    def all_backends(self) -> dict[str, BackendSettings]:
        """The configured backends, with ``internal`` (the home CA) unless redefined."""
        return {DEFAULT_BACKEND: InternalBackendSettings(), **self.backends}


def _check_patterns(value: list[str]) -> list[str]:
    for pattern in value:
        try:
            parse_pattern(pattern)
        except PatternError as exc:
            raise ValueError(str(exc)) from None
    return value
