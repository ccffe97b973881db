"""Builds from a wheelhouse with the network cut off, errors when wheels are missing,
and other architectures."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.utils import canonicalize_name

from certsight.commands.package import package_command
from certsight.packaging import (
    MANIFEST_NAME,
    UNITS,
    BuiltUnit,
    UnitsFailed,
    build_units,
    lambda_target,
    resolve,
)
from tests.lambda_sandbox import (
    unpack,
)
from tests.packaging.support import (
    EM_AARCH64,
    elf_files,
    loads_on_manylinux2014,
    read_elf,
    wheel_platforms,
)


# -- offline, and other architectures ---------------------------------------------------
@pytest.fixture(scope="module")
def wheelhouse(built: dict[str, BuiltUnit], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The validation unit's wheels for Lambda, fetched as an operator would before
    going offline (from the configured index, through pip's cache)."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    target = lambda_target()
    pins = [f"{name}=={version}" for name, version in built["validation"].distributions]
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:"),
            *("--no-deps", "--platform", target.platform_tag, "--implementation", "cp"),
            *("--python-version", target.python_version, "--dest", str(folder), *pins),
        ],
        check=True,
        capture_output=True,
    )
    return folder


# Loaded by every Python child whose PYTHONPATH has its folder (pip's, here): each
# connection or name lookup fails and is written down.
NO_NETWORK = """
import socket
def _refuse(*args, **kwargs):
    with open(__file__ + ".attempts", "a") as log:
        log.write(repr(args[1:2]) + "\\n")
    raise OSError("network disabled by tests/packaging/")
socket.socket.connect = socket.socket.connect_ex = _refuse
socket.getaddrinfo = socket.create_connection = _refuse
"""


@pytest.fixture
def no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Child Pythons (pip) that cannot reach the network; returns the attempts log."""
    folder = tmp_path / "no-network"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(NO_NETWORK)
    monkeypatch.setenv("PYTHONPATH", str(folder))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    attempts = folder / "sitecustomize.py.attempts"
    fetch = "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/', timeout=5)"
    probe = subprocess.run(
        [sys.executable, "-c", fetch],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode != 0 and "network disabled by tests" in probe.stderr
    attempts.unlink()
    return attempts


@pytest.mark.slow
def test_a_wheelhouse_build_needs_no_network_and_gives_the_same_zip(
    built: dict[str, BuiltUnit], wheelhouse: Path, no_network: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dist"
    result = CliRunner().invoke(
        package_command,
        ["validation", "--wheelhouse", str(wheelhouse), "--out", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert f"from the wheelhouse {wheelhouse}" in result.stderr
    assert not no_network.exists()  # pip never even tried
    assert (out / "validation.zip").read_bytes() == built["validation"].path.read_bytes()


def test_a_wheelhouse_without_the_wheels_is_a_precise_error(tmp_path: Path) -> None:
    empty = tmp_path / "wheelhouse"
    empty.mkdir()
    out = tmp_path / "dist"
    out.mkdir()
    (out / "validation.zip").write_bytes(b"an older build")
    with pytest.raises(UnitsFailed) as failed:
        build_units(out, ["validation"], wheelhouse=empty)
    message = str(failed.value)
    closure = resolve(UNITS["validation"].requirements)
    bundled = {canonicalize_name(d.metadata["Name"]) for d in closure.bundled}
    named = re.search(
        r"validation: pip could not install (\S+)==(\S+) for python3\.\d+ x86_64", message
    )
    assert named is not None, message
    assert canonicalize_name(named[1]) in bundled
    assert named[2] == importlib.metadata.version(named[1])
    assert f"the wheelhouse {empty.resolve()}" in message
    assert "pip download --only-binary=:all: --no-deps --platform manylinux2014_x86_64" in message
    assert "No matching distribution found" in message  # pip's own last lines
    assert not (out / "validation.zip").exists()  # the older zip cannot pass for this build
    assert failed.value.built == ()

    result = CliRunner().invoke(
        package_command, ["validation", "--wheelhouse", str(empty), "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "validation: pip could not install" in result.stderr


def test_an_index_out_of_reach_is_said_so(
    no_network: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # pip's own defaults (no configuration, no find-links), one try per request.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_NO_INDEX", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_RETRIES", "0")
    with pytest.raises(UnitsFailed) as failed:
        build_units(tmp_path, ["validation"])
    message = str(failed.value)
    assert "validation: pip could not install " in message
    assert "out of reach" in message
    assert "--wheelhouse" in message
    assert "is published" not in message  # not mistaken for a missing wheel
    assert no_network.exists()  # pip did try, and was refused


@pytest.mark.slow
def test_an_arm64_build_holds_aarch64_wheels(tmp_path: Path) -> None:
    built = build_units(tmp_path / "dist", ["validation"], architecture="arm64")[0]
    folder = unpack(built.path, tmp_path / "unpacked")
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert (manifest["architecture"], manifest["platform"]) == ("arm64", "manylinux2014_aarch64")
    platforms = wheel_platforms(folder)
    assert {n: p for n, p in platforms.items() if not loads_on_manylinux2014(p, "aarch64")} == {}
    elves = dict(elf_files(folder))
    assert elves
    assert {read_elf(data).machine for data in elves.values()} == {EM_AARCH64}
