"""Shared pieces of the publishing tests: a throwaway agent wheel, a home with a CA and a
publishing server on loopback."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

from certsight.settings import Home


def throwaway_wheel(version: str, *, marker: str = "") -> bytes:
    """A valid, installable ``certsight_agent`` wheel (a zip with its dist-info), made
    here because the agent's own sources are another team's and may not exist yet."""
    dist = f"certsight_agent-{version}.dist-info"
    files = {
        "certsight_agent/__init__.py": (
            f'__version__ = "{version}"\nMARKER = "{marker}"\n\n\n'
            f"def main() -> None:\n    print('certsight-agent {version}')\n"
        ).encode(),
        f"{dist}/entry_points.txt": b"[console_scripts]\ncertsight-agent = certsight_agent:main\n",
        f"{dist}/METADATA": (
            f"Metadata-Version: 2.1\nName: certsight-agent\nVersion: {version}\n"
        ).encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = []
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{name},sha256={digest.decode()},{len(data)}")
        record.append(f"{dist}/RECORD,,")
        archive.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return out.getvalue()


def certsight(home: Home, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The real command line, in a child process, on ``home``."""
    done = subprocess.run(
        [sys.executable, "-m", "certsight.cli", *args, "--home", str(home.root)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"certsight {' '.join(args)} failed: {done.stderr}{done.stdout}")
    return done


def write_wheel(folder: Path, version: str, *, marker: str = "") -> Path:
    path = folder / f"certsight_agent-{version}-py3-none-any.whl"
    path.write_bytes(throwaway_wheel(version, marker=marker))
    return path
