"""The ``[publishing]`` table of certsight.toml: release channels, the served address the
integration scripts point at, and where the trust-store password comes from.

With no table: channels ``stable`` and ``canary``, port 8081, and the PKCS#12 password
from ``CERTSIGHT_TRUSTSTORE_PASSWORD`` (Java's ``changeit`` when unset). The password
protects a trust store's integrity only (it holds public certificates), but it is still
kept out of the file, like every other secret.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from publishing.releases import DEFAULT_CHANNELS, ReleaseError, check_channel_name

DEFAULT_PASSWORD_ENV = "CERTSIGHT_TRUSTSTORE_PASSWORD"  # noqa: S105 - a variable's name


class PublishingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    channels: list[str] = list(DEFAULT_CHANNELS)
    port: int = Field(default=8081, ge=1, le=65535)
    base_url: str | None = None  # default http://127.0.0.1:{port}
    truststore_password_env: str = Field(default=DEFAULT_PASSWORD_ENV, min_length=1)

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one channel is needed")
        try:
            for channel in value:
                check_channel_name(channel)
        except ReleaseError as exc:
            raise ValueError(str(exc)) from None
        if len(set(value)) != len(value):
            raise ValueError("channels repeat")
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/") if value else value

    @property
    def served_url(self) -> str:
        return self.base_url or f"http://127.0.0.1:{self.port}"
