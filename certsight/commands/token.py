"""``certsight token``: API tokens for the issuance service (docs/issuance.md)."""

from __future__ import annotations

import json

import click

from certsight.commands.common import chosen_profiles, console, errors, home_option, utc_now
from certsight.settings import Home


@click.group()
def token() -> None:
    """Create, list and revoke issuance API tokens."""


@token.command("create")
@click.option("--name", required=True, help="who the token is for: events name it api:NAME")
@click.option(
    "--allow",
    "allow",
    multiple=True,
    required=True,
    help="names it may obtain: host, *.zone (one label), **.zone (any depth), CIDR (repeatable)",
)
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    help="profiles it may use (repeatable; default tls-server)",
)
@click.option(
    "--expires", "expires_days", type=click.IntRange(1, 3650), help="days until it expires"
)
@click.option("--rate-limit", default=None, help="e.g. 60/minute (default: [issuance] rate_limit)")
@home_option
def create(
    home: Home,
    name: str,
    allow: tuple[str, ...],
    profiles: tuple[str, ...],
    expires_days: int | None,
    rate_limit: str | None,
) -> None:
    """Create a token; it is printed once, alone on the last line of stdout."""
    from issuance.runtime import open_state
    from issuance.tokens import TokenStore

    chosen, default_rate = chosen_profiles(home, profiles)
    state = open_state(home.issuance)
    try:
        secret = TokenStore(state).create(
            name=name,
            allow=allow,
            profiles=chosen,
            rate_limit=rate_limit or default_rate,
            now=utc_now(),
            expires_days=expires_days,
        )
    finally:
        state.close()
    errors.print(
        f"token {name}: may obtain {', '.join(allow)} under {', '.join(chosen)}"
        + (f", expires in {expires_days} days" if expires_days else "")
    )
    errors.print("it is shown once; only its hash is stored")
    click.echo(secret)


@token.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@home_option
def list_tokens(home: Home, fmt: str) -> None:
    """Every token with its patterns, profiles and state (never the secret)."""
    from issuance.runtime import open_state
    from issuance.tokens import TokenStore

    state = open_state(home.issuance)
    try:
        tokens = TokenStore(state).list()
    finally:
        state.close()
    now = utc_now()
    rows = [
        {
            "name": t.name,
            "state": t.state(now),
            "allow": list(t.allow),
            "profiles": list(t.profiles),
            "rate_limit": t.rate_limit,
            "created_at": t.created_at.isoformat(),
            "expires_at": t.expires_at.isoformat() if t.expires_at else None,
            "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        }
        for t in tokens
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table("name", "state", "allow", "profiles", "rate limit", "expires")
    for row in rows:
        table.add_row(
            str(row["name"]),
            str(row["state"]),
            " ".join(row["allow"]),  # type: ignore[arg-type]
            " ".join(row["profiles"]),  # type: ignore[arg-type]
            str(row["rate_limit"]),
            str(row["expires_at"] or "never"),
        )
    console.print(table)


@token.command("revoke")
@click.argument("name")
@home_option
def revoke(home: Home, name: str) -> None:
    """Revoke a token at once: the next request with it gets 401."""
    from issuance.runtime import open_state
    from issuance.tokens import TokenStore

    state = open_state(home.issuance)
    try:
        TokenStore(state).revoke(name, utc_now())
    finally:
        state.close()
    errors.print(f"token {name} revoked")
