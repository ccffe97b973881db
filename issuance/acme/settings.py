"""The ``[acme]`` table of certsight.toml: how the ACME server validates and whom it
admits. docs/acme.md and docs/settings.md describe every key."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from issuance.settings import DEFAULT_PROFILE, DEFAULT_RATE_LIMIT, check_rate_limit

HTTP01_PORT_ENV = "CERTSIGHT_ACME_HTTP01_PORT"


class AcmeSettings(BaseModel):
    """``[acme]``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # Where accounts, orders, nonces and EAB keys live: "" for the issuance state file
    # (SQLite), "dynamodb://TABLE" for several issuance hosts sharing them.
    state: str = ""
    # Accounts must carry an External Account Binding (``certsight acme eab create``),
    # which binds them to name patterns and profiles the way API tokens do.
    eab_required: bool = True
    # Without EAB (eab_required = false), what an unbound account may obtain.
    open_allow: list[str] = []
    open_profiles: list[str] = [DEFAULT_PROFILE]
    open_rate_limit: str = DEFAULT_RATE_LIMIT
    # http-01 connects here (80 by RFC 8555 8.3; Pebble's httpPort for tests and NAT).
    http01_port: int = Field(default=80, ge=1, le=65535)
    # tls-alpn-01 connects here (443 by RFC 8737 3).
    tls_alpn01_port: int = Field(default=443, ge=1, le=65535)
    # DNS servers for http-01's address lookup and dns-01's TXT lookup, "host[:port]";
    # empty: the system resolver (/etc/resolv.conf).
    resolvers: list[str] = []
    validation_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    validation_attempts: int = Field(default=3, ge=1, le=10)
    nonce_lifetime_seconds: int = Field(default=3600, ge=10, le=86400)
    order_lifetime_hours: int = Field(default=24, ge=1, le=24 * 30)
    renewal_info_retry_after_seconds: int = Field(default=6 * 3600, ge=60, le=7 * 86400)
    max_body_bytes: int = Field(default=64 * 1024, ge=4096, le=1024 * 1024)

    @field_validator("resolvers")
    @classmethod
    def _resolvers(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_resolver(entry)
        return value

    @field_validator("state")
    @classmethod
    def _state(cls, value: str) -> str:
        if value and (not value.startswith("dynamodb://") or not value[11:].strip("/")):
            raise ValueError("must be empty (the SQLite state file) or dynamodb://TABLE")
        return value

    @field_validator("open_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        return check_rate_limit(value)

    def with_environment(self, variables: Mapping[str, str]) -> AcmeSettings:
        """``CERTSIGHT_ACME_HTTP01_PORT`` over the file's ``http01_port`` (tests, NAT)."""
        text = variables.get(HTTP01_PORT_ENV, "").strip()
        if not text:
            return self
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise ValueError(f"{HTTP01_PORT_ENV} must be a port number 1-65535, not {text!r}")
        return self.model_copy(update={"http01_port": int(text)})


def parse_resolver(entry: str) -> tuple[str, int]:
    """``"127.0.0.1:8053"``, ``"10.0.0.2"`` or ``"[::1]:53"`` as (address, port)."""
    text = entry.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = _port(rest.removeprefix(":"), entry)
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        port = _port(number, entry)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"resolver {entry!r} must be an IP address with an optional :port"
        ) from None
    return host, port


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"resolver {entry!r}: the port must be 1-65535")
    return int(text)
