"""``certsight dashboard``: the Streamlit dashboards."""

from __future__ import annotations

import signal

import click

from certsight.commands.common import console, errors, home_option
from certsight.settings import CertsightSettings, Home


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--no-auth",
    is_flag=True,
    help="serve a non-loopback address without sign-in (only behind an authenticating proxy)",
)
@home_option
def dashboard(home: Home, host: str, port: int, no_auth: bool) -> None:
    """The dashboards for the PKI team, cyber defence and management (Streamlit)."""
    from certsight.dashboarding import (
        check_port,
        exposure_warning,
        prepare,
        start,
        stop,
    )

    settings = CertsightSettings.load(home)
    # Every setting is checked before anything listens: a refusal exits 1 with its reason.
    launch = prepare(home, host, port, no_auth=no_auth, settings=settings)
    warning = exposure_warning(host, port, settings.dashboard, no_auth=no_auth)
    if warning is not None:
        errors.print(warning, style="bold red", markup=False, highlight=False, soft_wrap=True)
    check_port(host, port)
    if launch.signed_in:
        console.print("sign-in: OIDC; each user sees the audiences their groups map to")
    elif warning is None:
        console.print("no sign-in configured: listening on loopback only, for this machine")
    if not home.warehouse.exists():
        console.print(f"no warehouse yet at {home.warehouse}: pages say so until a build")
    console.print(f"dashboards on {launch.url}/ ; Ctrl-C stops")
    process = start(launch)

    def _terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # systemd and `docker stop` send SIGTERM: stop alike

    signal.signal(signal.SIGTERM, _terminated)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        return
    finally:
        stop(process)  # never leave Streamlit running without its parent
    if code:
        raise SystemExit(code)
