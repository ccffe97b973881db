"""``certsight dashboard``: Streamlit serving ``dashboards/`` over the home's warehouse.

Without sign-in the dashboards show who relies on whom to anyone who can reach them, so
they bind to loopback only; a wider address needs OIDC (``[dashboard.oidc]``) or an
explicit ``--no-auth``. Streamlit runs as a child process (it owns its event loop and
signal handling); this module builds its command line, its environment and its
secrets, nothing else. The child never reads certsight.toml: it receives the validated
``[dashboard]`` and ``[privacy]`` tables as JSON in ``CERTSIGHT_DASHBOARD_SETTINGS`` and
the home in ``CERTSIGHT_HOME`` (``dashboards/settings.py`` reads both); the OIDC
secrets go to Streamlit's secrets file only, readable by this user, removed on stop.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from certsight.settings import HOME_ENV, CertsightSettings, Home
from dashboards.access import streamlit_auth_secrets
from dashboards.settings import DashboardSection

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
SECRETS_FILE = Path(".certsight") / "streamlit-secrets.toml"
DEFAULT_PORT = 8501


class DashboardConfigError(ValueError):
    """The dashboard cannot start as asked; the message says what to change."""


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    url: str
    signed_in: bool


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, settings: DashboardSection, *, no_auth: bool) -> None:
    if is_loopback(host) or settings.oidc is not None or no_auth:
        return
    raise DashboardConfigError(
        f"refusing to serve the dashboards on {host} without sign-in: OCSP traffic shows "
        "who relies on whom. Configure [dashboard.oidc] in certsight.toml (docs/dashboards.md), "
        "or pass --no-auth if something in front of it authenticates users."
    )


def check_port(host: str, port: int) -> None:
    """A clear error now rather than Streamlit's exit after start-up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise DashboardConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port"
            ) from exc


def _toml_table(name: str, values: dict[str, str]) -> str:
    # JSON string escapes are valid TOML basic-string escapes.
    return f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())


def remove_secrets(home: Home) -> None:
    """The secrets file lives only while the dashboards run."""
    (home.root / SECRETS_FILE).unlink(missing_ok=True)


def write_secrets(home: Home, settings: CertsightSettings) -> Path | None:
    """Streamlit's ``[auth]`` secrets, from the environment variables the settings name,
    readable by this user only, or None without OIDC (a file left by an earlier
    configuration is removed)."""
    oidc = settings.dashboard.oidc
    if oidc is None:
        remove_secrets(home)
        return None
    try:
        auth = streamlit_auth_secrets(oidc, settings.environment.variables)
    except ValueError as exc:
        raise DashboardConfigError(str(exc)) from exc
    path = home.root / SECRETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(_toml_table("auth", auth))
        handle.write(_toml_table("auth.client_kwargs", {"scope": oidc.scope}))
    return path


def prepare(
    home: Home, host: str, port: int, *, no_auth: bool, settings: CertsightSettings | None = None
) -> Launch:
    """The command line and environment of the Streamlit child; ``settings`` are read
    from the home when the caller has not read them already."""
    settings = settings or CertsightSettings.load(home)
    check_exposure(host, settings.dashboard, no_auth=no_auth)
    secrets = write_secrets(home, settings)
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--theme.base",
        "light",
    ]
    if secrets is not None:
        argv += ["--secrets.files", str(secrets)]
    env = {
        **settings.environment.variables,  # PATH, the pseudonym key, proxies, as given
        **settings.dashboards().environment(),
        HOME_ENV: str(home.root),
        "PYTHONUNBUFFERED": "1",
    }
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - display only
    return Launch(argv, env, f"http://{shown}:{port}", settings.dashboard.oidc is not None)


def start(launch: Launch, *, output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Streamlit's own output goes to ``output`` (default: this process's)."""
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        launch.argv, env=launch.env, stdout=output, stderr=subprocess.STDOUT if output else None
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Ask Streamlit to stop as Ctrl-C would, then insist."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
