"""The agent's wheel: built from the repository's ``agent/`` sources, with the TUF root of
trust embedded as ``certsight_agent/trusted_root.json`` (contract point 5).

The root is embedded into the built wheel rather than into the sources, so the sources
(another team's) are never written to, and a wheel given with ``--wheel`` gets the very
same treatment: the archive is rewritten with the file added and its ``RECORD`` line
(PEP 376/427: ``path,sha256=<urlsafe base64>,size``) so that pip's install check passes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from email.parser import BytesHeaderParser
from pathlib import Path

ROOT_MEMBER = "certsight_agent/trusted_root.json"
_BUILD_TIMEOUT_S = 300


class WheelError(RuntimeError):
    """The agent wheel cannot be built or read; the message says which step and why."""


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _dist_info(names: list[str]) -> str:
    found = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
    if len(found) != 1:
        raise WheelError(f"not a wheel: {len(found)} .dist-info folders")
    return found.pop()


def wheel_metadata(wheel: bytes) -> tuple[str, str]:
    """(distribution name, version) from the wheel's METADATA."""
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            info = _dist_info(archive.namelist())
            headers = BytesHeaderParser().parsebytes(archive.read(f"{info}/METADATA"))
    except (zipfile.BadZipFile, KeyError) as exc:
        raise WheelError(f"not a wheel: {exc}") from None
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        raise WheelError("the wheel's METADATA names no Name or Version")
    return str(name), str(version)


def embed_root(wheel: bytes, root_json: bytes) -> bytes:
    """The wheel with ``trusted_root.json`` added (or replaced) and RECORD updated."""
    try:
        source = zipfile.ZipFile(io.BytesIO(wheel))
    except zipfile.BadZipFile as exc:
        raise WheelError(f"not a wheel: {exc}") from None
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        record_name = f"{_dist_info(source.namelist())}/RECORD"
        record_lines = []
        for item in source.infolist():
            if item.filename in (ROOT_MEMBER, record_name):
                continue
            data = source.read(item)
            target.writestr(item, data)
            record_lines.append(f"{item.filename},{_record_hash(data)},{len(data)}")
        target.writestr(ROOT_MEMBER, root_json)
        record_lines.append(f"{ROOT_MEMBER},{_record_hash(root_json)},{len(root_json)}")
        record_lines.append(f"{record_name},,")
        target.writestr(record_name, "\n".join(record_lines) + "\n")
    return out.getvalue()


def source_version(sources: Path) -> str:
    """``project.version`` of ``agent/pyproject.toml``."""
    try:
        document = tomllib.loads((sources / "pyproject.toml").read_text())
    except FileNotFoundError:
        raise WheelError(f"no agent sources at {sources} (no pyproject.toml)") from None
    except tomllib.TOMLDecodeError as exc:
        raise WheelError(f"{sources / 'pyproject.toml'}: {exc}") from None
    version = document.get("project", {}).get("version")
    if not isinstance(version, str):
        raise WheelError(f"{sources / 'pyproject.toml'} sets no static project.version")
    return version


def build_wheel(sources: Path, version: str | None = None) -> bytes:
    """Build the agent wheel with pip (no dependencies, no isolation: offline), from a
    copy of the sources whose version is set to ``version`` when one is given."""
    with tempfile.TemporaryDirectory(prefix="certsight-agent-build-") as scratch:
        copy = Path(scratch) / "src"
        shutil.copytree(
            sources,
            copy,
            ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".*"),
        )
        if version is not None:
            pyproject = copy / "pyproject.toml"
            text = pyproject.read_text()
            changed = re.sub(r'(?m)^version\s*=\s*"[^"]*"', f'version = "{version}"', text, count=1)
            if changed == text and source_version(copy) != version:
                raise WheelError(f"cannot set the version in {sources / 'pyproject.toml'}")
            pyproject.write_text(changed)
        out = Path(scratch) / "out"
        # In isolation first: pip installs the build backend the sources ask for
        # (setuptools>=77 for PEP 639 licences); without it where that cannot be fetched.
        failed = _pip_wheel(copy, out, isolated=True)
        if failed is not None:
            failed = _pip_wheel(copy, out, isolated=False)
        if failed is not None:
            raise WheelError(f"building the agent wheel failed: {failed}")
        wheels = list(out.glob("*.whl"))
        if len(wheels) != 1:
            raise WheelError(f"the agent build made {len(wheels)} wheels, not one")
        return wheels[0].read_bytes()


def _pip_wheel(sources: Path, out: Path, *, isolated: bool) -> str | None:
    """Run ``pip wheel --no-deps``; None on success, else the end of its output."""
    isolation = [] if isolated else ["--no-build-isolation"]
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own arguments
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            *isolation,
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(out),
            str(sources),
        ],
        capture_output=True,
        text=True,
        timeout=_BUILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return " | ".join(lines[-5:])
