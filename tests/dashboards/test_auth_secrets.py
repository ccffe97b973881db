"""The sign-in secrets never land on disk, so a SIGKILL cannot leave them behind.

``certsight dashboard`` with ``[dashboard.oidc]`` runs for real (a subprocess in its own
session, Streamlit its child); the test looks for the client and cookie secrets in every
file under the home while it runs, after the ``certsight`` process is killed with
SIGKILL (no handler, no ``finally``), and checks that the next start removes a secrets
file an earlier version left there. That sign-in works with the secrets handed over in
memory is tests/dashboards/test_oidc_signin.py's part.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from certsight.dashboarding import LEGACY_SECRETS_FILE
from tests.dashboards.browser import free_port, start_dashboard
from tests.dashboards.oidc import CLIENT_SECRET, COOKIE_SECRET, SECRETS, Provider, signed_in_home

pytestmark = pytest.mark.slow  # two Streamlit starts

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
ELSEWHERE = Provider("https://idp.corp.example")  # never contacted: nobody signs in here


def files_holding_secrets(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            if CLIENT_SECRET.encode() in content or COOKIE_SECRET.encode() in content:
                found.append(path)
    return found


def port_frees(port: int, within_s: float = 60.0) -> bool:
    """Whether nothing answers on ``port`` any more, waiting up to ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.2)
    return False


def test_no_secrets_file_exists_or_survives_a_sigkill(tmp_path: Path) -> None:
    port = free_port()
    home = signed_in_home(tmp_path / "home", ELSEWHERE, port)
    log = ARTIFACTS / "dashboard-secrets.log"
    dashboard = start_dashboard(home.root, log, port=port, environ=SECRETS)
    try:
        assert "sign-in: OIDC" in dashboard.output()
        assert files_holding_secrets(home.root) == []  # while it runs

        os.kill(dashboard.process.pid, signal.SIGKILL)  # certsight only; Streamlit lives on
        dashboard.process.wait()
        assert dashboard.process.returncode == -signal.SIGKILL
        assert files_holding_secrets(home.root) == []  # nothing left to clean up
        # Streamlit was told to die with its parent (dashboards/serve.py): the port frees.
        assert port_frees(port), "an orphaned Streamlit still holds the port"
    finally:
        dashboard.stop()  # the orphaned Streamlit: same process group

    legacy = home.root / LEGACY_SECRETS_FILE  # what earlier versions left after a SIGKILL
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_text(f'[auth]\nclient_secret = "{CLIENT_SECRET}"\n')
    legacy.chmod(0o600)
    again = start_dashboard(home.root, log, port=port, environ=SECRETS)
    try:
        assert not legacy.exists()
        assert files_holding_secrets(home.root) == []
    finally:
        again.stop()
