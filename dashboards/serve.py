"""``python -m dashboards.serve run APP [streamlit options]``: ``streamlit run`` with the
sign-in secrets handed to Streamlit in memory instead of a secrets file.

Why: ``st.login`` reads its ``[auth]`` table (client secret, cookie secret) from
``st.secrets``, which Streamlit fills from ``secrets.toml`` files. A file written for
each start outlives a SIGKILL of the process that would have removed it, and then sits
on disk with the secrets in it. Here the table is built from the environment variables
``[dashboard.oidc]`` names (the ones ``certsight dashboard`` has already checked and
that this process inherits) and merged into ``st.secrets`` before Streamlit's server
starts, as ``st.App(secrets=...)`` does. With the secrets already loaded, Streamlit never
reads nor watches a secrets file, so none can enable or alter sign-in either. Without
``[dashboard.oidc]`` this is exactly ``streamlit`` (``python -m streamlit``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from dashboards.access import streamlit_auth_secrets
from dashboards.settings import current_settings


def sign_in_secrets(environ: Mapping[str, str]) -> dict[str, dict[str, Any]] | None:
    """The secrets Streamlit needs for this process's settings: ``{"auth": ...}``, or
    None without sign-in. Raises ``ValueError`` naming a missing or short secret."""
    oidc = current_settings(environ).oidc
    if oidc is None:
        return None
    return {"auth": streamlit_auth_secrets(oidc, environ)}


PARENT_ENV = "CERTSIGHT_DASHBOARD_PARENT"
_PR_SET_PDEATHSIG = 1


def die_with_parent(environ: Mapping[str, str]) -> None:
    """On Linux, be sent SIGTERM when the certsight process that started us dies, even
    by SIGKILL, so that no orphaned Streamlit keeps the port (and the data) open. The
    parent's pid in ``PARENT_ENV`` closes the race of a parent that died before the
    request was made."""
    expected = environ.get(PARENT_ENV, "")
    if not sys.platform.startswith("linux") or not expected.isdigit():
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return  # not allowed here (a seccomp profile): the parent's stop() still applies
    if os.getppid() != int(expected):
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> None:
    die_with_parent(environ)
    import streamlit as st
    from streamlit.web.cli import main as streamlit_main

    try:
        secrets = sign_in_secrets(environ)
    except ValueError as exc:  # DashboardSettingsError too; `certsight dashboard` checked first
        raise SystemExit(f"certsight dashboards: {exc}") from None
    if secrets is not None:
        st.secrets.merge_programmatic_secrets(secrets)
    streamlit_main(args=list(sys.argv[1:] if argv is None else argv), prog_name="streamlit")


if __name__ == "__main__":
    main()
