"""The agent's wheel built from agent/ at any version, with a root of trust embedded
(shared contract, point 5), as `certsight publish agent` builds it: a pure-Python wheel
is a zip of the installed files plus a dist-info folder."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

SOURCES = Path(__file__).resolve().parents[2] / "agent" / "certsight_agent"


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_agent_wheel(
    version: str, root_json: bytes, folder: Path, *, broken: bool = False
) -> Path:
    """``broken``: a wheel whose package fails to import (for the self-check)."""
    files: dict[str, bytes] = {}
    for source in sorted(SOURCES.iterdir()):
        if source.suffix == ".py" or source.name == "py.typed":
            files[f"certsight_agent/{source.name}"] = source.read_bytes()
    files["certsight_agent/trusted_root.json"] = root_json
    if broken:
        files["certsight_agent/status.py"] = b"raise ImportError('broken build')\n"
    info = f"certsight_agent-{version}.dist-info"
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: certsight-agent\nVersion: {version}\n"
        "Requires-Dist: cryptography>=44\nRequires-Dist: tuf>=7.0\nRequires-Dist: urllib3>=2.0\n"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: certsight-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    files[f"{info}/entry_points.txt"] = (
        b"[console_scripts]\ncertsight-agent = certsight_agent.launcher:main\n"
    )
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = folder / f"certsight_agent-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel
