"""``certsight crl``: the CRL updater (issuance module), the only signer of CRLs."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import TYPE_CHECKING

import click

from certsight.commands.common import errors, home_option, utc_now
from certsight.settings import Home
from pki.store.crls import open_crl_store
from pki.store.factory import open_store
from pki.store.feed import ChangeFeed

if TYPE_CHECKING:
    from issuance.crl_updater import CrlUpdater


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
# Set by serve's supervisor to its own PID: the updater stops once that process is gone.
@click.option("--parent-pid", type=int, default=None, hidden=True)
@home_option
def crl_update(
    home: Home, watch: bool, refresh: int, validity: int, parent_pid: int | None
) -> None:
    """Sign each CA's CRL and store it where the responders read it (HOME/pki/crl or
    CERTSIGHT_CRLS). Needs the CA keys: run it where issuance runs, not on the responders."""
    from datetime import timedelta

    from issuance.crl_updater import CrlSettings, CrlUpdater, issuers_from_layout

    if refresh >= validity:
        raise click.BadParameter("--refresh must be shorter than --validity")
    issuers = issuers_from_layout(home.pki)  # no keys here: stop before touching anything
    store = open_store(home.store_uri)
    try:
        updater = CrlUpdater(
            issuers,
            store,
            open_crl_store(home.crl_location),
            utc_now,
            CrlSettings(refresh=timedelta(seconds=refresh), validity=timedelta(seconds=validity)),
        )
        feed = ChangeFeed(store)  # from now on: the first round signs every CRL anyway
        for name, built in zip(updater.names, updater.update_all(), strict=True):
            errors.print(f"CRL {name} #{built.number} ({built.entries} entries) stored")
        if watch:
            _watch(updater, feed, parent_pid=parent_pid)
    finally:
        store.close()


def _watch(updater: CrlUpdater, feed: ChangeFeed, *, parent_pid: int | None) -> None:
    """Follow the store until SIGINT or SIGTERM (or, under a supervisor, until the parent
    is gone: an orphaned updater would keep the CA keys in memory for nobody)."""
    # One stderr line per CRL re-signed (and the reason a round failed), for the operator
    # and for `certsight serve`'s console, which shows this child's output.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("crl updater: %(message)s"))
    updater_log = logging.getLogger("issuance.crl_updater")
    updater_log.addHandler(handler)
    updater_log.setLevel(logging.INFO)
    stop = threading.Event()
    # The rounds run on a worker thread; the main thread only waits, so the signal handler
    # never runs inside the worker's wait on ``stop``.
    worker = threading.Thread(target=updater.follow, args=(feed, stop), name="crl-updater")
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.5)
            if parent_pid is not None and os.getppid() != parent_pid:
                errors.print("crl updater: the supervising process is gone; stopping")
                stop.set()
    except KeyboardInterrupt:
        stop.set()
    worker.join()
