"""Who sees which audience's pages.

Without sign-in the dashboard is reachable from this machine only, so everyone who can
reach it sees everything. With OIDC, a user sees the audiences their group claim maps
to (``[dashboard.audiences]``), and nothing when no group matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dashboards.settings import AUDIENCES, DashboardSettings, OidcSettings


def groups_of(claims: Mapping[str, Any], claim: str) -> tuple[str, ...]:
    """The user's groups from the ID token: a list, or a single string, or a
    comma/space separated string (identity providers differ)."""
    value = claims.get(claim)
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part for part in value.replace(",", " ").split() if part)
    if isinstance(value, Iterable):
        return tuple(str(item) for item in value)
    return (str(value),)


def audiences_for(groups: Iterable[str], settings: DashboardSettings) -> tuple[str, ...]:
    held = set(groups)
    return tuple(
        audience
        for audience in AUDIENCES
        if held.intersection(settings.audiences.get(audience, ()))
    )


def streamlit_auth_secrets(oidc: OidcSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """The ``[auth]`` table Streamlit's ``st.login`` reads, with the secrets taken from
    the environment variables the settings name. A missing secret is an error here,
    before the server starts, not a failed sign-in later."""
    missing = [
        name for name in (oidc.client_secret_env, oidc.cookie_secret_env) if not environ.get(name)
    ]
    if missing:
        raise ValueError("sign-in is configured but the environment lacks " + ", ".join(missing))
    return {
        "redirect_uri": oidc.redirect_uri,
        "cookie_secret": environ[oidc.cookie_secret_env],
        "client_id": oidc.client_id,
        "client_secret": environ[oidc.client_secret_env],
        "server_metadata_url": oidc.server_metadata_url,
    }
