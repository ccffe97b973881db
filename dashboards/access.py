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


MIN_COOKIE_SECRET_BYTES = 32
"""Streamlit signs its session and sign-in cookies with HMAC-SHA-256 under the cookie
secret: shorter than the hash's 32 bytes, the secret, not the hash, bounds what a
forger must guess."""


def streamlit_auth_secrets(oidc: OidcSettings, environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``[auth]`` table Streamlit's ``st.login`` reads, with the secrets taken from
    the environment variables the settings name. A missing or short secret is an error
    here, before the server starts, not a failed sign-in later; the message names the
    variable, never its value."""
    missing = [
        name for name in (oidc.client_secret_env, oidc.cookie_secret_env) if not environ.get(name)
    ]
    if missing:
        raise ValueError("sign-in is configured but the environment lacks " + ", ".join(missing))
    cookie_secret = environ[oidc.cookie_secret_env]
    size = len(cookie_secret.encode())
    if size < MIN_COOKIE_SECRET_BYTES:
        raise ValueError(
            f"{oidc.cookie_secret_env} holds {size} bytes; the cookie secret needs at least "
            f"{MIN_COOKIE_SECRET_BYTES} (make one with: python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    return {
        "redirect_uri": oidc.redirect_uri,
        "cookie_secret": cookie_secret,
        "client_id": oidc.client_id,
        "client_secret": environ[oidc.client_secret_env],
        "server_metadata_url": oidc.server_metadata_url,
        "client_kwargs": {"scope": oidc.scope},
    }
