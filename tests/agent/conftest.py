"""The agent's tests drive the real `certsight-agent` command (the console script that
`make` installs into .venv) against a real `certsight serve issuance` over TLS on
loopback and a real TUF repository served over HTTP on loopback."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import PkiHome, free_port, make_home
from tests.issuance.test_api import create_token

AGENT = Path(sys.executable).parent / "certsight-agent"
SETTINGS = """
[issuance]
domains = ["corp.example"]
"""


@dataclass
class IssuanceApi:
    url: str
    home: PkiHome
    token_file: Path

    @property
    def ca_bundle(self) -> Path:
        return self.home.home.pki.root_cert


@contextmanager
def issuance_server(home: PkiHome) -> Iterator[str]:
    """`certsight serve issuance` (TLS) for ``home`` on a free loopback port; its URL."""
    port = free_port()
    stderr = home.home.root / f"issuance-{port}.stderr"
    with stderr.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "certsight.cli", "serve", "issuance", "--port", str(port)],
            env={**os.environ, "CERTSIGHT_HOME": str(home.home.root)},
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    url = f"https://127.0.0.1:{port}"
    tls = ssl.create_default_context(cafile=str(home.home.pki.root_cert))
    try:
        _wait_until_up(process, f"{url}/healthz", tls, stderr)
        yield url
    finally:
        _stop(process)


@contextmanager
def publishing_server(home: PkiHome) -> Iterator[str]:
    """`certsight serve publishing` for ``home`` on a free loopback port; its URL."""
    port = free_port()
    log = home.home.root / f"publishing-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "certsight.cli", "serve", "publishing", "--port", str(port)],
            env={**os.environ, "CERTSIGHT_HOME": str(home.home.root)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, f"{url}/tuf/metadata/timestamp.json", None, log)
        yield url
    finally:
        _stop(process)


def _wait_until_up(
    process: subprocess.Popen[bytes], url: str, tls: ssl.SSLContext | None, log: Path
) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(f"{url}: the server exited: {log.read_text()}")
        try:
            if httpx.get(url, verify=tls or True, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer within 60 s: {log.read_text()}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def agent_token(home: PkiHome) -> Path:
    """A token for names under corp.example, in a 0600 file (never on a command line)."""
    home.home.settings_file.write_text(SETTINGS)
    token = create_token(home, "agents", "--allow", "**.corp.example", "--profile", "tls-server")
    token_file = home.home.root / "agents.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return token_file


@pytest.fixture(scope="session")
def issuance_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IssuanceApi]:
    if not AGENT.exists():
        pytest.fail(f"{AGENT} is missing: `make` installs it (pip install -e ./agent)")
    home = make_home(tmp_path_factory.mktemp("agent-issuance"), port=free_port())
    token_file = agent_token(home)
    with issuance_server(home) as url:
        yield IssuanceApi(url, home, token_file)


def run_agent(
    *args: str,
    agent_home: Path,
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """`certsight-agent ARGS` as a timer would run it, with its own AGENT_HOME."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CERTSIGHT_AGENT_")},
        "CERTSIGHT_AGENT_HOME": str(agent_home),
        **(env or {}),
    }
    return subprocess.run(
        [*prefix, str(AGENT), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
