"""The ``[dashboard]`` and ``[privacy]`` tables of ``HOME/certsight.toml``.

Read by the ``certsight dashboard`` command (to configure Streamlit's sign-in) and by
the app (to map a signed-in user's groups to audiences). Secrets never live in the
file: it names the environment variables that hold them.

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
```
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SETTINGS_FILE = "certsight.toml"
AUDIENCES = ("pki", "cyber", "management")
AUDIENCE_TITLES = {"pki": "PKI", "cyber": "Cyber defence", "management": "Management"}
HOME_ENV = "CERTSIGHT_HOME"


class DashboardSettingsError(ValueError):
    """A setting is wrong; the message names it."""


@dataclass(frozen=True)
class OidcSettings:
    server_metadata_url: str
    client_id: str
    client_secret_env: str
    cookie_secret_env: str
    redirect_uri: str
    groups_claim: str = "groups"
    scope: str = "openid profile email"  # some providers send groups only for a scope


@dataclass(frozen=True)
class PrivacySettings:
    pseudonymise_management: bool = True
    pseudonymise_exports: bool = True
    key_env: str = "CERTSIGHT_PSEUDONYM_KEY"


@dataclass(frozen=True)
class DashboardSettings:
    oidc: OidcSettings | None = None
    audiences: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    privacy: PrivacySettings = PrivacySettings()


def home_root() -> Path:
    return Path(os.environ.get(HOME_ENV) or "data").expanduser().absolute()


def read_document(home: Path) -> dict[str, Any]:
    source = home / SETTINGS_FILE
    try:
        with source.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise DashboardSettingsError(f"{source}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise DashboardSettingsError(f"{source}: cannot read: {exc.strerror}") from exc


def _table(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, Mapping):
        raise DashboardSettingsError(f"[{key}] must be a table")
    return value


def _text(table: Mapping[str, Any], name: str, where: str, default: str | None = None) -> str:
    value = table.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise DashboardSettingsError(f"[{where}] {name} must be a non-empty string")
    return value.strip()


def _flag(table: Mapping[str, Any], name: str, where: str, default: bool) -> bool:
    value = table.get(name, default)
    if not isinstance(value, bool):
        raise DashboardSettingsError(f"[{where}] {name} must be true or false")
    return value


_KNOWN = {
    "dashboard": {"oidc", "audiences"},
    "dashboard.oidc": {
        "server_metadata_url",
        "client_id",
        "client_secret_env",
        "cookie_secret_env",
        "redirect_uri",
        "groups_claim",
        "scope",
    },
    "privacy": {"pseudonymise_management", "pseudonymise_exports", "key_env"},
}


def _only_known(table: Mapping[str, Any], where: str) -> None:
    """A misspelt key is an error, not a default: `pseudonymize_exports = false` must not
    leave exports pseudonymised while its author believes otherwise, nor the reverse."""
    unknown = sorted(set(table) - _KNOWN[where])
    if unknown:
        raise DashboardSettingsError(
            f"[{where}] has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_KNOWN[where]))}"
        )


def parse_settings(document: Mapping[str, Any]) -> DashboardSettings:
    dashboard = _table(document, "dashboard")
    _only_known(dashboard, "dashboard")
    oidc_table = dashboard.get("oidc")
    oidc = None
    if oidc_table is not None:
        if not isinstance(oidc_table, Mapping):
            raise DashboardSettingsError("[dashboard.oidc] must be a table")
        where = "dashboard.oidc"
        _only_known(oidc_table, where)
        oidc = OidcSettings(
            server_metadata_url=_text(oidc_table, "server_metadata_url", where),
            client_id=_text(oidc_table, "client_id", where),
            client_secret_env=_text(
                oidc_table, "client_secret_env", where, "CERTSIGHT_OIDC_CLIENT_SECRET"
            ),
            cookie_secret_env=_text(
                oidc_table, "cookie_secret_env", where, "CERTSIGHT_DASHBOARD_COOKIE_SECRET"
            ),
            redirect_uri=_text(oidc_table, "redirect_uri", where),
            groups_claim=_text(oidc_table, "groups_claim", where, "groups"),
            scope=_text(oidc_table, "scope", where, "openid profile email"),
        )
        if not oidc.server_metadata_url.startswith("https://"):
            raise DashboardSettingsError(
                "[dashboard.oidc] server_metadata_url must be an https:// URL"
            )
    audiences_table = dashboard.get("audiences", {})
    if not isinstance(audiences_table, Mapping):
        raise DashboardSettingsError("[dashboard.audiences] must be a table")
    audiences: dict[str, tuple[str, ...]] = {}
    for name, groups in audiences_table.items():
        if name not in AUDIENCES:
            raise DashboardSettingsError(
                f"[dashboard.audiences] {name}: not an audience (one of {', '.join(AUDIENCES)})"
            )
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise DashboardSettingsError(f"[dashboard.audiences] {name} must be a list of groups")
        audiences[name] = tuple(groups)
    if oidc is not None and not audiences:
        raise DashboardSettingsError(
            "[dashboard.oidc] is set but [dashboard.audiences] maps no group to an audience: "
            "nobody could see anything"
        )
    privacy_table = _table(document, "privacy")
    _only_known(privacy_table, "privacy")
    privacy = PrivacySettings(
        pseudonymise_management=_flag(privacy_table, "pseudonymise_management", "privacy", True),
        pseudonymise_exports=_flag(privacy_table, "pseudonymise_exports", "privacy", True),
        key_env=_text(privacy_table, "key_env", "privacy", "CERTSIGHT_PSEUDONYM_KEY"),
    )
    return DashboardSettings(oidc=oidc, audiences=audiences, privacy=privacy)


def load_settings(home: Path) -> DashboardSettings:
    return parse_settings(read_document(home))
