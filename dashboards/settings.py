"""The dashboards' settings: the models of the ``[dashboard]`` and ``[privacy]`` tables of
``HOME/certsight.toml``, and how the app receives them.

The app runs as a Streamlit child of ``certsight dashboard`` and imports nothing of
``certsight``, which alone reads certsight.toml (with these models, as part of its
root model). The parent hands the child two environment variables:

* ``CERTSIGHT_HOME`` (``HOME_ENV``): the home folder, whose warehouse the pages read;
* ``CERTSIGHT_DASHBOARD_SETTINGS`` (``SETTINGS_ENV``): the validated settings as JSON,
  parsed here with the same models. Absent (the app started by other means, such as
  Streamlit's AppTest): the defaults, no sign-in and pseudonyms on.

Secrets never travel in either: the file names the environment variables that hold
them. The child inherits those variables, and ``dashboards/serve.py`` hands the OIDC
ones to Streamlit in memory before its server starts: no secrets file is written.

```toml
[dashboard.oidc]                  # omit the table: no sign-in, loopback only
server_metadata_url = "https://idp.corp.example/.well-known/openid-configuration"
client_id = "certsight-dashboard"
client_secret_env = "CERTSIGHT_OIDC_CLIENT_SECRET"
cookie_secret_env = "CERTSIGHT_DASHBOARD_COOKIE_SECRET"
redirect_uri = "https://certsight.corp.example/oauth2callback"
groups_claim = "groups"
scope = "openid profile email groups"   # default "openid profile email"

[dashboard.audiences]             # group claim values -> audiences
pki = ["pki-team"]
cyber = ["soc", "cert-team"]
management = ["it-leadership"]

[privacy]
pseudonymise_management = true    # client IPs on the management pages
pseudonymise_exports = true       # client IPs in CSV downloads and reports
key_env = "CERTSIGHT_PSEUDONYM_KEY"   # else a key kept in HOME/.certsight/pseudonym.key
client_address_days = 90          # then the LAKE's client addresses become pseudonyms
raw_days = 30                     # RAW objects kept after they were ingested
lake_days = 400                   # traffic partitions kept (omit: kept for ever)
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pki.names import is_loopback

HOME_ENV = "CERTSIGHT_HOME"
"""The home folder, for every certsight process (``certsight.settings`` reads it too)."""
SETTINGS_ENV = "CERTSIGHT_DASHBOARD_SETTINGS"
"""The validated ``DashboardSettings`` as JSON, set by ``certsight dashboard``."""
DEFAULT_HOME = "data"

AUDIENCES = ("pki", "cyber", "management")
AUDIENCE_TITLES = {"pki": "PKI", "cyber": "Cyber defence", "management": "Management"}

_CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class DashboardSettingsError(ValueError):
    """The app was handed settings it cannot read; the message says how to start it."""


def _audience(name: str) -> str:
    if name not in AUDIENCES:
        raise ValueError(f"not an audience (one of {', '.join(AUDIENCES)})")
    return name


def _groups(value: Any) -> Any:
    if not isinstance(value, list | tuple) or not all(isinstance(g, str) for g in value):
        raise ValueError("must be a list of groups (strings)")
    return tuple(value)


def _secure_url(url: str) -> str:
    """https, or http to this machine only. Plain http elsewhere would carry the
    authorization code and the tokens in clear; on loopback nothing leaves the machine
    (RFC 8252 section 7.3 allows it for the same reason), which is how a provider and
    a dashboard on one machine, and the tests, sign in."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url
    raise ValueError(
        "must be an https:// URL (http:// only on loopback: 127.0.0.1, ::1, localhost)"
    )


def _callback(url: str) -> str:
    """Streamlit serves the end of the sign-in at ``/oauth2callback`` and nowhere else,
    and sends the browser back there after sign-out."""
    if not urlsplit(url).path.endswith("/oauth2callback"):
        raise ValueError(
            "must end in /oauth2callback (Streamlit's sign-in callback), e.g. "
            "https://certsight.corp.example/oauth2callback"
        )
    return url


class OidcSettings(BaseModel):
    """``[dashboard.oidc]``: sign-in through the organisation's OIDC provider."""

    model_config = _CONFIG

    server_metadata_url: Annotated[Text, AfterValidator(_secure_url)]
    client_id: Text
    # Where the provider sends the browser back: https, or http on loopback only.
    redirect_uri: Annotated[Text, AfterValidator(_secure_url), AfterValidator(_callback)]
    # The names of the variables holding the secrets, not secrets.
    client_secret_env: Text = "CERTSIGHT_OIDC_CLIENT_SECRET"  # noqa: S105
    cookie_secret_env: Text = "CERTSIGHT_DASHBOARD_COOKIE_SECRET"  # noqa: S105
    groups_claim: Text = "groups"
    scope: Text = "openid profile email"  # some providers send groups only for a scope


def _days(value: int) -> int:
    if not 1 <= value <= 36_500:
        raise ValueError(f"must be between 1 and 36500 days, not {value}")
    return value


class PrivacySettings(BaseModel):
    """``[privacy]``: where client addresses are replaced by keyed pseudonyms."""

    model_config = _CONFIG

    pseudonymise_management: bool = True
    pseudonymise_exports: bool = True
    key_env: Text = "CERTSIGHT_PSEUDONYM_KEY"
    # Retention (``certsight lake retain``, daily under ``certsight run``; docs/lake.md).
    client_address_days: Annotated[int, AfterValidator(_days)] = 90
    accept_raw_beyond_address_limit: bool = False
    raw_days: Annotated[int, AfterValidator(_days)] = 30
    lake_days: Annotated[int, AfterValidator(_days)] | None = None  # None: for ever

    @field_validator("raw_days")
    @classmethod
    def _raw_within_address_limit(cls, value: int, info: ValidationInfo) -> int:
        """RAW objects hold the addresses as logged: kept longer than the LAKE keeps
        addresses, they would outlive the limit unless someone chose that knowingly."""
        limit = info.data.get("client_address_days")
        if (
            limit is not None
            and value > limit
            and not info.data.get("accept_raw_beyond_address_limit")
        ):
            raise ValueError(
                f"{value} keeps RAW objects, which hold client addresses as logged, longer "
                f"than client_address_days ({limit}): lower it, or set "
                "accept_raw_beyond_address_limit = true to keep them knowingly"
            )
        return value


class DashboardSection(BaseModel):
    """``[dashboard]``: who signs in (``oidc``) and which groups see which audience."""

    model_config = _CONFIG

    oidc: OidcSettings | None = None
    audiences: dict[
        Annotated[str, AfterValidator(_audience)],
        Annotated[tuple[str, ...], BeforeValidator(_groups)],
    ] = {}

    @model_validator(mode="after")
    def _someone_sees_something(self) -> Self:
        if self.oidc is not None and not self.audiences:
            raise ValueError(
                "[dashboard.oidc] is set but [dashboard.audiences] maps no group to an "
                "audience: nobody could see anything"
            )
        return self


class DashboardSettings(DashboardSection):
    """What the app runs with: the ``[dashboard]`` table and the ``[privacy]`` table."""

    privacy: PrivacySettings = PrivacySettings()

    def environment(self) -> dict[str, str]:
        """The variable that hands these settings to the app's process."""
        return {SETTINGS_ENV: self.model_dump_json()}


def home_root(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().absolute()


def current_settings(environ: Mapping[str, str] = os.environ) -> DashboardSettings:
    """The settings ``certsight dashboard`` handed this process; the defaults without."""
    text = environ.get(SETTINGS_ENV)
    if not text:
        return DashboardSettings()
    try:
        return DashboardSettings.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise DashboardSettingsError(
            f"{SETTINGS_ENV} does not hold dashboard settings ({problems}); "
            "start the dashboards with `certsight dashboard`"
        ) from None
