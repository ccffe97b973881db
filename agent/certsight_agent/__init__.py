"""certsight-agent: obtains and renews this host's certificate from certsight's issuance
API, installs trust stores and updates itself through TUF.

A distribution of its own: it imports only the standard library, cryptography, tuf and
urllib3 (tests/agent/test_imports.py holds it to that), so it installs on servers that
have nothing else of certsight.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

DISTRIBUTION = "certsight-agent"


def _version() -> str:
    """The version of the copy that is running, not of whichever copy pip knows: an
    updated agent runs from AGENT_HOME/versions/{version}/, whose dist-info sits beside
    the package, so that one is read first."""
    here = Path(__file__).resolve().parent
    for info in sorted(here.parent.glob("certsight_agent-*.dist-info")):
        return metadata.PathDistribution(info).version
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = _version()
