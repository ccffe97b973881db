"""Wire the home folder to the validation server, and supervise the CRL updater beside it.

The server process must never hold a CA key (it faces the internet). Where the CA keys
are in this home, ``certsight serve`` and ``certsight run`` start the CRL updater as a
child process of their own (``certsight crl update --watch``): it signs and stores the
CRLs, and the server reads the stored bytes. Where the keys are absent (a validation-only
host), the server serves what an updater elsewhere stored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

from certsight.settings import HOME_ENV, Home
from pki.layout import ISSUING_NAME
from pki.store.crls import open_crl_store
from responders.web.runtime import RuntimeConfig, build_runtime
from responders.web.server import ServerStartError

UPDATER_START_TIMEOUT_S = 60.0


class UpdaterStartError(ServerStartError):
    """The CRL updater stopped before it stored the first CRLs."""


def runtime_config(
    home: Home, *, role: str = "all", ocsp_validity: int = 3600, log_batch_seconds: float = 60.0
) -> RuntimeConfig:
    home.pki.read_config()  # a clear "run ca init first" before any server starts
    config = RuntimeConfig(
        pki_dir=str(home.pki.root),
        raw_dir=str(home.raw),
        store_uri=home.store_uri,
        crl_location=home.crl_location,
        roles=("ocsp", "crl") if role == "all" else (role,),
        ocsp_validity_s=ocsp_validity,
        log_batch_seconds=log_batch_seconds,
    )
    # Build once before any worker starts: a missing key or an unreachable store then
    # ends as one clear error line instead of a traceback from every worker.
    build_runtime(config, adapter="http").store.close()
    return config


def can_sign_crls(home: Home) -> bool:
    return home.pki.issuing_key.exists()


@contextlib.contextmanager
def crl_updater_process(home: Home) -> Iterator[subprocess.Popen[bytes] | None]:
    """Run ``certsight crl update --watch`` for this home while the block runs.

    Yields ``None`` (and starts nothing) when the CA keys are not here. Waits until the
    issuing CA's CRL is stored, so the server's first CRL request finds one; stops the
    updater with SIGTERM (then SIGKILL after 10 s) when the block ends.
    """
    if not can_sign_crls(home):
        yield None
        return
    crls = open_crl_store(home.crl_location)
    command = [sys.executable, "-m", "certsight.cli", "crl", "update", "--watch"]
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        command, env={**os.environ, HOME_ENV: str(home.root)}, stdin=subprocess.DEVNULL
    )
    try:
        started = time.monotonic()
        before = crls.version(ISSUING_NAME)  # the updater signs every CRL when it starts
        while (now := crls.version(ISSUING_NAME)) is None or now == before:
            if child.poll() is not None:
                raise UpdaterStartError(
                    f"the CRL updater stopped (exit {child.returncode}) before storing a CRL; "
                    "its reason is above"
                )
            if time.monotonic() - started > UPDATER_START_TIMEOUT_S:
                raise UpdaterStartError(
                    f"the CRL updater stored no CRL in {UPDATER_START_TIMEOUT_S:.0f} s"
                )
            time.sleep(0.05)
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
