"""``certsight revoke``: revoke a certificate in the store (issuance module)."""

from __future__ import annotations

import click

from certsight.commands.common import home_option, utc_now
from certsight.settings import Home
from issuance.operations import (
    revoke_serial,
)
from pki.reasons import RevocationReason
from pki.serials import parse_serial
from pki.store.factory import open_store


@click.command()
@click.argument("serial")
@click.option(
    "--reason",
    default="unspecified",
    show_default=True,
    help="RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, ...",
)
@click.option(
    "--issuer",
    "issuer_key_sha1",
    default=None,
    help="issuer key SHA-1 (hex), when the serial exists under several CAs",
)
@home_option
def revoke(home: Home, serial: str, reason: str, issuer_key_sha1: str | None) -> None:
    """Revoke a certificate by serial (hex, any case, colons or 0x allowed)."""
    parsed_reason = RevocationReason.parse(reason)
    home.pki.read_config()
    store = open_store(home.store_uri)
    try:
        record = revoke_serial(
            store=store,
            raw_dir=home.raw,
            clock=utc_now,
            serial=parse_serial(serial),
            reason=parsed_reason,
            issuer_key_sha1=issuer_key_sha1.lower() if issuer_key_sha1 else None,
        )
    finally:
        store.close()
    click.echo(
        f"revoked {record.serial} ({record.subject}) at "
        f"{record.revoked_at:%Y-%m-%d %H:%M:%S}Z, reason {parsed_reason.name}"
    )
