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
import threading
import time
from collections.abc import Iterator

from certsight.settings import HOME_ENV, Home
from pki.layout import ISSUING_NAME
from pki.store.crls import open_crl_store
from responders.web.exchange import DEFAULT_CDN_MAX_AGE
from responders.web.runtime import RuntimeConfig, build_runtime
from responders.web.server import ServerStartError

UPDATER_START_TIMEOUT_S = 60.0
RESTART_DELAY_S = 5.0


class UpdaterStartError(ServerStartError):
    """The CRL updater stopped before it stored the first CRLs."""


def runtime_config(
    home: Home,
    *,
    role: str = "all",
    ocsp_validity: int = 3600,
    status_max_age: int = 300,
    cdn_max_age: int = DEFAULT_CDN_MAX_AGE,
    log_batch_seconds: float = 60.0,
    trust_viewer_address: bool = False,
) -> RuntimeConfig:
    home.pki.read_config()  # a clear "run ca init first" before any server starts
    config = RuntimeConfig(
        pki_dir=str(home.pki.root),
        raw_dir=str(home.raw),
        store_uri=home.store_uri,
        crl_location=home.crl_location,
        roles=("ocsp", "crl") if role == "all" else (role,),
        ocsp_validity_s=ocsp_validity,
        status_max_age_s=status_max_age,
        cdn_max_age_s=cdn_max_age,
        log_batch_seconds=log_batch_seconds,
        trust_viewer_address=trust_viewer_address,
    )
    # Build once before any worker starts: a missing key or an unreachable store then
    # ends as one clear error line instead of a traceback from every worker.
    build_runtime(config, adapter="http").store.close()
    return config


def can_sign_crls(home: Home) -> bool:
    """The issuing CA's key is here: a file, or the KMS key named in ``ca.json``."""
    return home.pki.holds_issuing_key()


class _Supervisor:
    """Keeps one ``certsight crl update --watch`` child running for a home: restarts it
    (after ``RESTART_DELAY_S``) when it stops while the server still runs, and says so."""

    def __init__(self, home: Home) -> None:
        self._home = home
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.child: subprocess.Popen[bytes] | None = None
        self._watcher = threading.Thread(target=self._watch, name="crl-supervisor", daemon=True)

    def spawn(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "certsight.cli",
            "crl",
            "update",
            "--watch",
            "--parent-pid",
            str(os.getpid()),
        ]
        with self._lock:
            if self._stopping.is_set():
                raise UpdaterStartError("the server is stopping: no CRL updater started")
            self.child = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
                command,
                env={**os.environ, HOME_ENV: str(self._home.root)},
                stdin=subprocess.DEVNULL,
            )
            return self.child

    def watch(self) -> None:
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            child = self.child
            if child is None or child.poll() is None:
                continue
            print(
                f"crl updater stopped (exit {child.returncode}); CRLs are not re-signed: "
                f"restarting it in {RESTART_DELAY_S:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            if self._stopping.wait(RESTART_DELAY_S):
                return
            try:
                self.spawn()
            except UpdaterStartError:  # stop() ran meanwhile: start nothing new
                return

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


@contextlib.contextmanager
def crl_updater_process(home: Home) -> Iterator[subprocess.Popen[bytes] | None]:
    """Run ``certsight crl update --watch`` for this home while the block runs.

    Yields ``None`` (and starts nothing) when the CA keys are not here. Waits until the
    issuing CA's CRL is stored anew, so the server's first CRL request finds a fresh one
    (the root's, where its key is here, follows within the same round). While the block
    runs, an updater that stops is restarted; when the block ends it gets SIGTERM (then
    SIGKILL after 10 s). The child also stops by itself if this process dies without
    running this cleanup (SIGKILL, out of memory).
    """
    if not can_sign_crls(home):
        yield None
        return
    crls = open_crl_store(home.crl_location)
    before = crls.version(ISSUING_NAME)  # read first: the updater signs every CRL at start
    supervisor = _Supervisor(home)
    child = supervisor.spawn()
    try:
        started = time.monotonic()
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
        supervisor.watch()
        yield child
    finally:
        supervisor.stop()
