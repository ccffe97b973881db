"""``certsight acme``: External Account Binding keys for the ACME server (docs/acme.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from certsight.commands.common import chosen_profiles, console, errors, home_option, utc_now
from certsight.settings import CertsightSettings, Home

if TYPE_CHECKING:
    from issuance.acme.eab import EabKeys
    from issuance.acme.state import AcmeState


@click.group()
def acme() -> None:
    """The ACME server's External Account Binding keys."""


@acme.group()
def eab() -> None:
    """Create, list and revoke EAB keys: each binds ACME accounts to name patterns and
    profiles, as an API token does."""


def _keys(home: Home) -> tuple[AcmeState, EabKeys]:
    """The EAB keys where the server reads them: ``[acme] state``."""
    from issuance.acme.eab import EabKeys
    from issuance.acme.state import open_acme_state
    from issuance.runtime import STATE_FILE

    settings = CertsightSettings.load(home).acme
    store = open_acme_state(settings.state, home.issuance / STATE_FILE)
    return store, EabKeys(store)


@eab.command("create")
@click.option("--name", required=True, help="who the key is for: certificates name acme:NAME")
@click.option(
    "--allow",
    "allow",
    multiple=True,
    required=True,
    help="names it may obtain: host, *.zone (one label), **.zone (any depth), CIDR (repeatable)",
)
@click.option(
    "--profile", "profiles", multiple=True, help="profiles (repeatable; default tls-server)"
)
@click.option("--rate-limit", default=None, help="e.g. 60/minute (default: [issuance] rate_limit)")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@home_option
def create(
    home: Home,
    name: str,
    allow: tuple[str, ...],
    profiles: tuple[str, ...],
    rate_limit: str | None,
    fmt: str,
) -> None:
    """Create a key; its id and base64url HMAC key are printed once."""

    chosen, default_rate = chosen_profiles(home, profiles)
    store, keys = _keys(home)
    try:
        kid, hmac_key = keys.create(
            name=name,
            allow=allow,
            profiles=chosen,
            rate_limit=rate_limit or default_rate,
            now=utc_now(),
        )
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps({"kid": kid, "hmac_key": hmac_key}))
        return
    errors.print(f"EAB key {name}: may obtain {', '.join(allow)} under {', '.join(chosen)}")
    errors.print("the HMAC key is shown once; give both lines to the ACME client's operator")
    click.echo(f"kid: {kid}")
    click.echo(f"hmac_key: {hmac_key}")


@eab.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@home_option
def list_keys(home: Home, fmt: str) -> None:
    """Every EAB key with its patterns, profiles and state (never the HMAC key)."""
    store, keys = _keys(home)
    try:
        found = keys.list()
    finally:
        store.close()
    rows = [
        {
            "name": k.name,
            "kid": k.kid,
            "state": "revoked" if k.revoked_at else "active",
            "allow": list(k.allow),
            "profiles": list(k.profiles),
            "rate_limit": k.rate_limit,
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in found
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table("name", "kid", "state", "allow", "profiles")
    for row in rows:
        table.add_row(
            str(row["name"]),
            str(row["kid"]),
            str(row["state"]),
            " ".join(row["allow"]),  # type: ignore[arg-type]
            " ".join(row["profiles"]),  # type: ignore[arg-type]
        )
    console.print(table)


@eab.command("revoke")
@click.argument("name")
@home_option
def revoke(home: Home, name: str) -> None:
    """Revoke a key: its accounts are refused (unauthorized) from their next request."""
    store, keys = _keys(home)
    try:
        keys.revoke(name, utc_now())
    finally:
        store.close()
    errors.print(f"EAB key {name} revoked")
