"""The User-Agent of every request (shared contract, point 6): publishing's access logs
and the LAKE read version adoption per host from it."""

from __future__ import annotations

import sys

from certsight_agent import __version__


def user_agent(channel: str, version: str = __version__) -> str:
    return f"certsight-agent/{version} ({channel}; {sys.platform})"
