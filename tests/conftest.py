"""Shared fixtures: a CA in a temporary home, certificates, and a running server.

Everything is generated here by code (no binary fixtures to go stale): a home
with `ca init` done, a good and a revoked certificate, and `certsight serve` as
a real subprocess on a free loopback port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from certsight.packaging import BuiltUnit, build_units
from certsight.settings import Home
from issuance.crl_updater import sign_crls
from issuance.hierarchy import init_ca
from issuance.operations import issue_to_files, register_ca_material, revoke_serial
from pki.keys import KeyType
from pki.reasons import RevocationReason
from pki.store.crls import open_crl_store
from pki.store.sqlite import SqliteStore


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class PkiHome:
    home: Home
    good: Path
    good_serial: str
    revoked: Path
    revoked_serial: str

    @property
    def pki(self) -> Path:
        return self.home.pki.root

    def store(self) -> SqliteStore:
        return SqliteStore(self.home.pki.store)

    def issue(self, name: str) -> tuple[Path, str]:
        files = issue_to_files(
            layout=self.home.pki,
            store=self.store(),
            raw_dir=self.home.raw,
            clock=utc_now,
            common_name=name,
            sans=[name],
            days=30,
            out_dir=self.home.certs,
        )
        return files.certificate, files.issued.record.serial


def make_home(root: Path, *, key_type: KeyType = KeyType.ec_p256, port: int = 8080) -> PkiHome:
    home = Home(root)
    init_ca(home.pki, base_url=f"http://127.0.0.1:{port}", key_type=key_type, now=utc_now())
    store = SqliteStore(home.pki.store)
    register_ca_material(layout=home.pki, store=store, raw_dir=home.raw, now=utc_now())
    made = PkiHome(home, Path(), "", Path(), "")
    made.good, made.good_serial = made.issue("good.example.test")
    made.revoked, made.revoked_serial = made.issue("revoked.example.test")
    revoke_serial(
        store=store,
        raw_dir=home.raw,
        clock=utc_now,
        serial=made.revoked_serial,
        reason=RevocationReason.keyCompromise,
    )
    sign_crls(home.pki, store, open_crl_store(str(home.pki.crl_dir)), utc_now)
    return made


@pytest.fixture(scope="session")
def pki_home(tmp_path_factory: pytest.TempPathFactory) -> PkiHome:
    """A read-mostly CA shared by the session; tests that write use their own home."""
    return make_home(tmp_path_factory.mktemp("home"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    home: PkiHome
    # A file, not a pipe: nobody reads a pipe while the server runs, and a full pipe would
    # block the server and its CRL updater child (both write their log lines there).
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    home: PkiHome,
    *extra: str,
    environment: dict[str, str] | None = None,
    port: int | None = None,
) -> RunningServer:
    port = port or free_port()
    env = {**os.environ, "CERTSIGHT_HOME": str(home.home.root), **(environment or {})}
    stderr_path = home.home.root / f"serve-{port}.stderr"
    with stderr_path.open("wb") as stderr_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "certsight.cli",
                "serve",
                "--port",
                str(port),
                "--log-batch-seconds",
                "0.5",
                *extra,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = stderr_path.read_text(errors="replace")
            raise RuntimeError(f"certsight serve exited with {process.returncode}: {stderr}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return RunningServer(url, port, process, home, stderr_path)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("certsight serve did not answer /healthz within 30 s")


@pytest.fixture(scope="session")
def server(pki_home: PkiHome) -> Iterator[RunningServer]:
    running = start_server(pki_home)
    yield running
    running.stop()


# -- AWS: moto's real HTTP server on loopback (never patched functions) ----------------
@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point the standard AWS settings at moto, and nowhere real, for one test."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
    ):
        monkeypatch.delenv(name, raising=False)
    missing = tmp_path / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltUnit]:
    """The real Lambda units, built once per session (about half a minute for all
    four): the packaging tests open them, the infrastructure tests synthesise them."""
    out = tmp_path_factory.mktemp("dist")
    return {b.unit.name: b for b in build_units(out)}
