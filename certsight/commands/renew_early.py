"""``certsight renew-early``: move a certificate's renewal window to now (docs/acme.md,
"Renewal information and early renewal")."""

from __future__ import annotations

import getpass
from datetime import datetime

import click

from certsight.commands.common import console, home_option, utc_now
from certsight.settings import CertsightSettings, Home


@click.command("renew-early")
@click.argument("serial", required=False)
@click.option(
    "--issuer",
    "issuer_key_sha1",
    default=None,
    help="issuer key SHA-1 (hex), when the serial exists under several CAs",
)
@click.option("--reason", default=None, help="why: shown to the holder (API, ACME renewalInfo)")
@click.option("--clear", is_flag=True, help="remove the analyst's flag set earlier")
@click.option(
    "--from-warehouse",
    is_flag=True,
    help="flag every revoked certificate the last build found still validated",
)
@home_option
def renew_early(
    home: Home,
    serial: str | None,
    issuer_key_sha1: str | None,
    reason: str | None,
    clear: bool,
    from_warehouse: bool,
) -> None:
    """Flag a certificate (by serial: hex, any case, colons or 0x allowed) for renewal now:
    its renewal window moves to now, so its ACME client or agent renews at its next check."""
    if from_warehouse:
        if serial or reason or clear:
            raise click.UsageError("--from-warehouse takes no SERIAL, --reason or --clear")
        _from_warehouse(home)
        return
    if not serial:
        raise click.UsageError("give the SERIAL of the certificate (or --from-warehouse)")
    if clear == bool(reason):
        raise click.UsageError("give --reason TEXT to flag the certificate, or --clear alone")
    _flag(home, serial, issuer_key_sha1, reason, clear=clear)


def _flag(
    home: Home, serial: str, issuer_key_sha1: str | None, reason: str | None, *, clear: bool
) -> None:
    from issuance.early_renewal import EarlyRenewals, Source
    from issuance.operations import find_certificate
    from issuance.runtime import open_state
    from issuance.settings import Profile
    from issuance.views import renewal_window
    from pki.serials import parse_serial
    from pki.store.factory import open_store

    settings = CertsightSettings.load(home).issuance
    store = open_store(home.store_uri)
    state = open_state(home.issuance)
    try:
        record = find_certificate(
            store, parse_serial(serial), issuer_key_sha1.lower() if issuer_key_sha1 else None
        )
        early = EarlyRenewals(state, settings.early_renewal, utc_now)
        if clear:
            if not early.clear(record, Source.analyst):
                raise click.ClickException(
                    f"certificate {record.serial} has no early-renewal flag from an analyst"
                )
        else:
            assert reason is not None  # checked by the caller
            try:
                early.flag(record, Source.analyst, reason, _who())
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--reason") from None
        row = state.issued(record.issuer_key_sha1, record.serial)
        if row is not None:  # the window the issuance service recorded when it issued
            normal = (
                datetime.fromisoformat(row["renewal_start"]),
                datetime.fromisoformat(row["renewal_end"]),
            )
        else:  # issued by `certsight issue`: the profile's rule, as the service applies it
            profile = settings.all_profiles().get(record.profile, Profile())
            normal = renewal_window(record.not_before, record.not_after, profile.renewal_fraction)
        window = early.window(record, normal)
    finally:
        state.close()
        store.close()
    done = "cleared the analyst's flag on" if clear else "flagged"
    console.print(
        f"{done} {record.serial} ({record.subject}, issuer {record.issuer_key_sha1}): renewal "
        f"window {window.start:%Y-%m-%d %H:%M:%S}Z to {window.end:%Y-%m-%d %H:%M:%S}Z",
        highlight=False,
    )
    for item in window.early:
        console.print(f"  due early ({item.source.value}): {item.reason}", highlight=False)


def _from_warehouse(home: Home) -> None:
    from certsight.early_renewing import feed_from_warehouse

    report = feed_from_warehouse(home, clock=utc_now)
    if not report.built:
        raise click.ClickException(
            f"{home.warehouse} does not exist yet: run `certsight build` first"
        )
    console.print(report.summary() or "no revoked certificate is still validated", highlight=False)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
