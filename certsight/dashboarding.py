"""``certsight dashboard``: Streamlit serving ``dashboards/`` over the home's warehouse.

Without sign-in the dashboards show who relies on whom to anyone who can reach them, so
they bind to loopback only; a wider address needs OIDC (``[dashboard.oidc]``) or an
explicit ``--no-auth``. Streamlit runs as a child process (it owns its event loop and
signal handling); this module checks the settings and builds its command line and its
environment, nothing else. The child never reads certsight.toml: it receives the
validated ``[dashboard]`` and ``[privacy]`` tables as JSON in
``CERTSIGHT_DASHBOARD_SETTINGS`` and the home in ``CERTSIGHT_HOME``
(``dashboards/settings.py`` reads both). The OIDC secrets stay in the environment
variables the operator set: ``dashboards/serve.py`` hands them to Streamlit in memory,
so no secrets file exists to outlive a SIGKILL.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from certsight.settings import HOME_ENV, CertsightSettings, Home
from dashboards.access import streamlit_auth_secrets
from dashboards.settings import DashboardSection
from pki.names import is_loopback

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
SERVE_MODULE = "dashboards.serve"  # `streamlit run` with the sign-in secrets in memory
LEGACY_SECRETS_FILE = Path(".certsight") / "streamlit-secrets.toml"
"""Where earlier versions wrote Streamlit's secrets; one a SIGKILL left behind goes at the
next start."""
DEFAULT_PORT = 8501


class DashboardConfigError(ValueError):
    """The dashboard cannot start as asked; the message says what to change."""


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    url: str
    signed_in: bool


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


def check_sign_in(host: str, settings: CertsightSettings) -> None:
    """With ``[dashboard.oidc]``: the secrets its variables name are set and long enough
    (``dashboards.access``), and the browser is not sent back to a loopback address while
    the dashboards listen for other machines. The model has already refused a redirect
    URI that is neither https nor on loopback."""
    oidc = settings.dashboard.oidc
    if oidc is None:
        return
    try:
        streamlit_auth_secrets(oidc, settings.environment.variables)
    except ValueError as exc:
        raise DashboardConfigError(str(exc)) from exc
    back_to = urlsplit(oidc.redirect_uri).hostname or ""
    if is_loopback(back_to) and not is_loopback(host):
        raise DashboardConfigError(
            f"[dashboard.oidc] redirect_uri {oidc.redirect_uri} is on loopback but the "
            f"dashboards listen on {host}: users of other machines would be sent back to "
            "their own machine after signing in. Use the https address they reach the "
            "dashboards at."
        )


def exposure_warning(
    host: str, port: int, settings: DashboardSection, *, no_auth: bool
) -> str | None:
    """The warning for serving beyond loopback without sign-in, one ``WARNING`` line per
    line so that none of it is lost in a log; None when there is nothing to warn of."""
    if is_loopback(host) or settings.oidc is not None or not no_auth:
        return None
    return "\n".join(
        f"WARNING: {line}"
        for line in (
            f"the dashboards are served on {host}:{port} WITHOUT SIGN-IN (--no-auth).",
            "Anyone who can reach that port sees every audience's pages (PKI, cyber "
            "defence, management),",
            "raw client IP addresses included: the cyber-defence pages show them, "
            "pseudonyms cover only the management pages and exports.",
            "Only do this behind a proxy that authenticates users; otherwise configure "
            "[dashboard.oidc] (docs/dashboards.md).",
        )
    )


def remove_secrets(home: Home) -> None:
    """Remove the secrets file an earlier version wrote (and a SIGKILL left behind).
    This version writes none."""
    (home.root / LEGACY_SECRETS_FILE).unlink(missing_ok=True)


def prepare(
    home: Home, host: str, port: int, *, no_auth: bool, settings: CertsightSettings | None = None
) -> Launch:
    """The command line and environment of the Streamlit child, once the settings are
    checked (``DashboardConfigError`` otherwise); ``settings`` are read from the home
    when the caller has not read them already."""
    settings = settings or CertsightSettings.load(home)
    check_exposure(host, settings.dashboard, no_auth=no_auth)
    check_sign_in(host, settings)
    remove_secrets(home)
    argv = [
        sys.executable,
        "-m",
        SERVE_MODULE,
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
    from dashboards.serve import PARENT_ENV

    env = {**launch.env, PARENT_ENV: str(os.getpid())}  # it stops when we die (serve.py)
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        launch.argv, env=env, stdout=output, stderr=subprocess.STDOUT if output else None
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
