"""``certsight crl``: the CRL updater (issuance module), the only signer of CRLs."""

from __future__ import annotations

import logging
import signal

import click

from certsight.commands.common import errors, home_option, utc_now
from certsight.settings import Home
from pki.store.crls import open_crl_store
from pki.store.factory import open_store


@click.group()
def crl() -> None:
    """CRL signing (the issuance module's CRL updater)."""


@crl.command("update")
@click.option(
    "--watch",
    is_flag=True,
    help="keep running: follow revocations in the store and refresh before CRLs age",
)
@click.option(
    "--refresh",
    default=3600,
    show_default=True,
    type=click.IntRange(60),
    help="seconds between scheduled re-signings of each CRL",
)
@click.option(
    "--validity",
    default=86400,
    show_default=True,
    type=click.IntRange(120),
    help="seconds from a CRL's thisUpdate to its nextUpdate",
)
@home_option
def crl_update(home: Home, watch: bool, refresh: int, validity: int) -> None:
    """Sign each CA's CRL and store it where the responders read it (HOME/pki/crl or
    CERTSIGHT_CRLS). Needs the CA keys: run it where issuance runs, not on the responders."""
    import threading
    from datetime import timedelta

    from issuance.crl_updater import CrlSettings, CrlUpdater, issuers_from_layout
    from pki.store.feed import ChangeFeed

    if refresh >= validity:
        raise click.BadParameter("--refresh must be shorter than --validity")
    store = open_store(home.store_uri)
    updater = CrlUpdater(
        issuers_from_layout(home.pki),
        store,
        open_crl_store(home.crl_location),
        utc_now,
        CrlSettings(refresh=timedelta(seconds=refresh), validity=timedelta(seconds=validity)),
    )
    feed = ChangeFeed(store)  # from now on: the first round signs every CRL anyway
    for name, built in zip(updater.names, updater.update_all(), strict=True):
        errors.print(f"CRL {name} #{built.number} ({built.entries} entries) stored")
    if not watch:
        store.close()
        return
    # One stderr line per CRL re-signed (and the reason a round failed), for the operator
    # and for `certsight serve`'s console, which shows this child's output.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("crl updater: %(message)s"))
    updater_log = logging.getLogger("issuance.crl_updater")
    updater_log.addHandler(handler)
    updater_log.setLevel(logging.INFO)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        updater.follow(feed, stop)
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
