"""The deployable units: what each zip holds, that it loads on Lambda, and runs alone.

The zips are built for real (pip installs each unit's closure for the Lambda platform
from the configured index and its cache), unpacked, and checked: every compiled file
comes from a wheel that needs no newer glibc than manylinux2014's 2.17 (by the wheels'
tags and by the ELF files' own symbol versions), every module has bytecode for this
Python, and each unit's handler is imported by a fresh interpreter that cannot see the
venv (tests/lambda_sandbox.py), without compiling any module of the zip. The
validation unit then answers real OCSP requests from that folder, with a PKI folder
holding no CA key. A build from a wheelhouse is checked with the network cut off.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import marshal
import os
import re
import struct
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name

from certsight.commands.package import package_command
from certsight.packaging import (
    MANIFEST_NAME,
    RUNTIME_PROVIDED,
    UNITS,
    BuiltUnit,
    Closure,
    DependencyError,
    LambdaTarget,
    PackagingError,
    Staging,
    Unit,
    UnitsFailed,
    UnknownUnitError,
    build_unit,
    build_units,
    compatibility_problems,
    content_sha256,
    lambda_target,
    resolve,
)
from tests.conftest import PkiHome, make_home
from tests.lambda_sandbox import (
    IMPORT_SCRIPT,
    answer_ocsp_in_sandbox,
    lambda_python,
    pki_without_ca_keys,
    runtime_provided_copy,
    unpack,
)
from tests.responders.test_lambda import (
    assert_signed_by_delegated_signer,
    ocsp_request,
    ocsp_response_of,
    v2_event,
)

ROOT = Path(__file__).resolve().parent.parent
OURS = {
    "pki",
    "responders",
    "issuance",
    "publishing",
    "ingest",
    "warehouse",
    "dashboards",
    "certsight",
    "simulator",
    "infra",
}
EXPECTED_OURS = {
    "validation": {"responders", "pki"},
    "issuance": {"issuance", "pki"},
    "publishing": {"publishing", "pki"},
}
# ingest is not among them: see test_ingest_is_refused_while_its_wheels_need_a_newer_glibc.
BUILDABLE = sorted(EXPECTED_OURS)
# Top-level names the runtime-provided distributions install: none may be in a zip.
RUNTIME_MODULES = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}
PRIVATE_KEY_PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/]")
CACHE_TAG = sys.implementation.cache_tag  # cpython-311: the runtime follows the venv
MANYLINUX2014_GLIBC = (2, 17)
EM_X86_64, EM_AARCH64 = 62, 183


# -- what compiled code needs, read from the files themselves ---------------------------
@dataclass(frozen=True)
class Elf:
    machine: int  # e_machine
    glibc: tuple[int, int] | None  # the newest GLIBC_x.y symbol version it needs


def read_elf(data: bytes) -> Elf:
    """e_machine and the newest ``GLIBC_x.y`` of an ELF64 little-endian file's version
    needs (SHT_GNU_verneed): what the dynamic loader demands of the C library, whatever
    the wheel's tag claims."""
    assert data[:4] == b"\x7fELF" and data[4:6] == b"\x02\x01", "not ELF64 little-endian"
    machine = int.from_bytes(data[18:20], "little")
    shoff = int.from_bytes(data[0x28:0x30], "little")
    shentsize = int.from_bytes(data[0x3A:0x3C], "little")
    shnum = int.from_bytes(data[0x3C:0x3E], "little")
    # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, ...
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    needed = []
    for _, kind, _, _, offset, _, link, count, _, _ in sections:
        if kind != 0x6FFFFFFE:  # SHT_GNU_verneed
            continue
        strings = sections[link][4]
        entry = offset
        for _ in range(count):
            _, aux_count, _, aux, next_entry = struct.unpack_from("<HHIII", data, entry)
            at = entry + aux
            for _ in range(aux_count):
                _, _, _, name, next_aux = struct.unpack_from("<IHHII", data, at)
                start = strings + name
                text = data[start : data.index(b"\0", start)].decode()
                if match := re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", text):
                    needed.append((int(match[1]), int(match[2])))
                at += next_aux
            entry += next_entry
    return Elf(machine, max(needed, default=None))


def elf_files(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as stream:
                if stream.read(4) != b"\x7fELF":
                    continue
            yield path, path.read_bytes()


def wheel_platforms(folder: Path) -> dict[str, set[str]]:
    """Each installed distribution's wheel platforms, from its WHEEL file."""
    found = {}
    for wheel in folder.glob("*.dist-info/WHEEL"):
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag:")
        ]
        found[wheel.parent.name] = {tag.platform for text in tags for tag in parse_tag(text)}
    return found


def loads_on_manylinux2014(platforms: set[str], machine: str) -> bool:
    """Pure, or manylinux for ``machine`` with glibc at most 2.17 (2014, 2010, 1 or
    manylinux_2_N with N <= 17)."""
    if platforms == {"any"}:
        return True
    for platform in platforms:
        if re.fullmatch(rf"manylinux(?:2014|2010|1)_{machine}", platform):
            return True
        match = re.fullmatch(rf"manylinux_2_(\d+)_{machine}", platform)
        if match and int(match[1]) <= MANYLINUX2014_GLIBC[1]:
            return True
    return False


def pyc_header(data: bytes) -> tuple[bytes, int, bytes]:
    """(magic, flags, source hash) of a PEP 552 .pyc."""
    return data[:4], int.from_bytes(data[4:8], "little"), data[8:16]


def top_level(folder: Path) -> set[str]:
    return {p.name.removesuffix(".py") for p in folder.iterdir()}


# -- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltUnit]:
    out = tmp_path_factory.mktemp("dist")
    return {b.unit.name: b for b in build_units(out, BUILDABLE)}


@pytest.fixture(scope="module")
def unpacked(
    built: dict[str, BuiltUnit], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("unpacked")
    return {name: unpack(b.path, root / name) for name, b in built.items()}


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runtime_provided_copy(tmp_path_factory.mktemp("lambda-runtime"))


# -- what each zip holds -------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("unit", BUILDABLE)
def test_each_zip_holds_its_unit_pki_and_no_other_code_of_ours(
    unit: str, built: dict[str, BuiltUnit], unpacked: dict[str, Path]
) -> None:
    folder = unpacked[unit]
    names = top_level(folder)
    assert names & OURS == EXPECTED_OURS[unit]
    assert not names & RUNTIME_MODULES
    assert (folder / "cryptography").is_dir()
    assert (folder / "aws_lambda_powertools").is_dir()
    assert not {"pyarrow", "numpy"} & names

    files = [p for p in folder.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".key"]
    assert not [p for p in files if PRIVATE_KEY_PEM.search(p.read_bytes())]
    assert not (folder / "bin").exists()  # console scripts stay out

    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["unit"] == unit
    assert manifest["handler"] == UNITS[unit].handler
    assert (manifest["runtime"], manifest["architecture"], manifest["platform"]) == (
        f"python{sys.version_info.major}.{sys.version_info.minor}",
        "x86_64",
        "manylinux2014_x86_64",
    )
    handler_module = manifest["handler"].rpartition(".")[0]
    assert (folder / (handler_module.replace(".", "/") + ".py")).is_file()
    digests = [
        (p.relative_to(folder).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in files
        if p.name != MANIFEST_NAME
    ]
    assert manifest["content_sha256"] == content_sha256(digests) == built[unit].content_sha256
    assert manifest["files"] == len(digests)
    bundled = {d["name"]: d["version"] for d in manifest["distributions"]}
    for name in ("cryptography", "cffi", "orjson", "aws-lambda-powertools"):
        assert bundled[name] == importlib.metadata.version(name)  # what the tests ran with
    assert not set(bundled) & RUNTIME_PROVIDED
    provided = {d["name"] for d in manifest["runtime_provided"]}
    assert "boto3" in provided
    assert provided <= RUNTIME_PROVIDED


@pytest.mark.slow
@pytest.mark.parametrize("unit", BUILDABLE)
def test_each_zip_holds_only_files_of_wheels_that_load_on_lambda(
    unit: str, unpacked: dict[str, Path]
) -> None:
    folder = unpacked[unit]
    platforms = wheel_platforms(folder)
    assert {"cryptography", "cffi", "orjson"} <= {n.split("-")[0] for n in platforms}
    assert any(p != {"any"} for p in platforms.values())  # compiled wheels are among them
    assert {n: p for n, p in platforms.items() if not loads_on_manylinux2014(p, "x86_64")} == {}

    # Every file is ours, the manifest, a file of an installed wheel, or bytecode of one.
    recorded = {
        row.split(",", 1)[0]
        for record in folder.glob("*.dist-info/RECORD")
        for row in record.read_text().splitlines()
    }
    stray = []
    for path in folder.rglob("*"):
        name = path.relative_to(folder).as_posix()
        if path.is_dir() or name == MANIFEST_NAME or name.split("/")[0] in EXPECTED_OURS[unit]:
            continue
        if path.parent.name == "__pycache__":  # bytecode: its source must be recorded
            source = path.parent.parent / (path.name.split(".")[0] + ".py")
            name = source.relative_to(folder).as_posix()
        if name not in recorded:
            stray.append(name)
    assert stray == []

    # What the loader will demand, whatever the tags say: glibc 2.17 at most, x86-64.
    elves = dict(elf_files(folder))
    assert elves, "no compiled extension found"
    for path, data in elves.items():
        elf = read_elf(data)
        assert elf.machine == EM_X86_64, path
        assert elf.glibc is None or elf.glibc <= MANYLINUX2014_GLIBC, (path, elf.glibc)


@pytest.mark.slow
@pytest.mark.parametrize("unit", BUILDABLE)
def test_each_module_has_unchecked_hash_bytecode_for_this_python(
    unit: str, unpacked: dict[str, Path]
) -> None:
    folder = unpacked[unit]
    sources = list(folder.rglob("*.py"))
    ours = [p for p in sources if p.relative_to(folder).parts[0] in EXPECTED_OURS[unit]]
    assert ours and len(sources) > len(ours)
    missing = []
    for source in sources:
        relative = source.relative_to(folder)
        compiled = source.parent / "__pycache__" / f"{source.stem}.{CACHE_TAG}.pyc"
        if not compiled.is_file():
            missing.append(relative.as_posix())
            continue
        data = compiled.read_bytes()
        magic, flags, source_hash = pyc_header(data)
        assert magic == importlib.util.MAGIC_NUMBER, relative
        assert flags == 0b01, relative  # hash-based, not checked against the source
        assert source_hash == importlib.util.source_hash(source.read_bytes()), relative
        assert marshal.loads(data[16:]).co_filename == relative.as_posix()
    assert missing == []
    # The venv's bytecode is never copied: only this build's names are present.
    stale = [p for p in folder.rglob("*.pyc") if not p.name.endswith(f".{CACHE_TAG}.pyc")]
    assert stale == []


@pytest.mark.slow
@pytest.mark.parametrize("unit", BUILDABLE)
def test_each_handler_imports_from_its_unpacked_zip_alone_without_compiling(
    unit: str, unpacked: dict[str, Path], runtime_dir: Path
) -> None:
    done = lambda_python(unpacked[unit], runtime_dir, IMPORT_SCRIPT, UNITS[unit].handler)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES "))
    seen = json.loads(line.removeprefix("MODULES "))
    assert Path(seen["handler"]).is_relative_to(unpacked[unit])
    venv = Path(sys.prefix)
    assert not [p for p in seen["path"] if "site-packages" in p or Path(p).is_relative_to(ROOT)]
    leaked = [
        f for f in seen["files"] if Path(f).is_relative_to(venv) or Path(f).is_relative_to(ROOT)
    ]
    assert not leaked
    from_zip = [f for f in seen["files"] if Path(f).is_relative_to(unpacked[unit])]
    assert len(from_zip) > 50  # ours, cryptography, powertools...
    assert [f for f in seen["compiled"] if Path(f).is_relative_to(unpacked[unit])] == []


@pytest.mark.slow
def test_validation_unit_answers_ocsp_from_its_unpacked_zip(
    unpacked: dict[str, Path], runtime_dir: Path, tmp_path: Path
) -> None:
    home = make_home(tmp_path / "home")
    pki_dir = pki_without_ca_keys(home, tmp_path / "function-pki")
    assert not list(pki_dir.glob("*-ca.key"))
    events = [
        v2_event("POST", "/ocsp", ocsp_request(home, home.good)),
        v2_event("POST", "/ocsp", ocsp_request(home, home.revoked)),
    ]
    answer = answer_ocsp_in_sandbox(
        unpacked["validation"], runtime_dir, pki_dir, home.home.pki.store, events
    )
    good, revoked = (ocsp_response_of(result) for result in answer.results)
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert good.serial_number == int(home.good_serial, 16)
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.serial_number == int(home.revoked_serial, 16)
    assert_signed_by_delegated_signer(home, good)


@pytest.mark.slow
def test_a_zip_is_the_same_bytes_when_built_again(
    built: dict[str, BuiltUnit], tmp_path: Path
) -> None:
    again = build_unit(UNITS["validation"], tmp_path)  # new staging: pip and compiler again
    assert again.path.read_bytes() == built["validation"].path.read_bytes()
    with zipfile.ZipFile(again.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names[-1] == MANIFEST_NAME
    assert names[:-1] == sorted(names[:-1])
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {(i.external_attr >> 16) & 0o777 for i in infos} <= {0o644, 0o755}


@pytest.mark.slow
def test_package_command_prints_one_line_per_unit_with_its_size(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        package_command, ["publishing", "issuance", "--out", str(tmp_path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert [line.split()[0] for line in lines] == ["publishing.zip", "issuance.zip"]
    for line, zip_name in zip(lines, ["publishing.zip", "issuance.zip"], strict=True):
        size = (tmp_path / zip_name).stat().st_size
        assert f"{size / 2**20:,.1f} MiB" in line
    assert "handler publishing.lambda_handler.handler" in lines[0]
    # The steps go to stderr: the platform, pip's work for the first unit, reuse after.
    assert "manylinux2014_x86_64" in result.stderr
    assert "publishing:   Collecting cryptography==" in result.stderr
    assert "issuance: third-party code as installed for an earlier unit" in result.stderr


# -- offline, other architectures, and what cannot be built ----------------------------
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
    raise OSError("network disabled by tests/test_packaging.py")
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


@pytest.mark.slow
def test_ingest_is_refused_while_its_wheels_need_a_newer_glibc(tmp_path: Path) -> None:
    """pyarrow and numpy at the venv's versions publish no manylinux2014 wheel (their
    wheels need glibc 2.27 or 2.28; the python3.11 runtime has 2.26), so no ingest.zip
    can load there: the build says which unit and which requirement, and leaves no zip.
    When the ingest unit gets versions or a runtime that fit, this test gives way to
    ingest joining BUILDABLE."""
    out = tmp_path / "dist"
    out.mkdir()
    (out / "ingest.zip").write_bytes(b"an older build")
    with pytest.raises(UnitsFailed) as failed:
        build_units(out, ["ingest"])
    message = str(failed.value)
    blocked = [f"{n}=={importlib.metadata.version(n)}" for n in ("numpy", "pyarrow")]
    assert any(f"ingest: pip could not install {pin} for" in message for pin in blocked), message
    assert "manylinux2014_x86_64" in message
    assert "cannot load in the python3.11 runtime" in message
    assert not (out / "ingest.zip").exists()


# -- errors and rules, without building the real units ---------------------------------
def test_an_unknown_unit_or_architecture_is_refused_before_anything_is_built(
    tmp_path: Path,
) -> None:
    with pytest.raises(UnknownUnitError, match=r"'nope'.*validation, issuance, publishing, ingest"):
        build_units(tmp_path, ["validation", "nope"])
    with pytest.raises(PackagingError, match=r"no riscv64 architecture: choose x86_64 or arm64"):
        build_units(tmp_path, ["validation"], architecture="riscv64")
    assert not list(tmp_path.iterdir())
    result = CliRunner().invoke(package_command, ["nope", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "unknown unit 'nope'" in result.output
    result = CliRunner().invoke(package_command, ["--arch", "riscv64", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "'x86_64', 'arm64'" in result.output
    assert not list(tmp_path.iterdir())


def test_a_dependency_not_installed_is_named_with_who_needs_it() -> None:
    with pytest.raises(DependencyError, match=r"certsight-no-such-dist \(required by the x unit\)"):
        resolve(["certsight-no-such-dist"], wanted_by="the x unit")


def test_a_version_that_does_not_fit_is_named() -> None:
    installed = importlib.metadata.version("cryptography")
    with pytest.raises(DependencyError, match=rf"cryptography {installed} is installed.*<1"):
        resolve(["cryptography<1"])


def test_the_closure_follows_requirements_and_markers_and_leaves_the_runtime_out() -> None:
    closure = resolve(UNITS["validation"].requirements)
    bundled = {d.metadata["Name"].lower().replace("_", "-") for d in closure.bundled}
    # cryptography needs cffi (marker: not PyPy), cffi needs pycparser
    assert {"cryptography", "cffi", "pycparser", "aws-lambda-powertools"} <= bundled
    assert "bcrypt" not in bundled  # only cryptography's "ssh" extra wants it
    provided = {d.metadata["Name"].lower() for d in closure.runtime_provided}
    assert provided == {"boto3", "jmespath"}  # declared by pki; wanted by powertools
    assert not bundled & RUNTIME_PROVIDED
    assert resolve(["asn1crypto; sys_platform == 'no-such-platform'"]) == Closure((), ())


def test_markers_are_judged_for_the_lambda_target() -> None:
    on_arm = ["asn1crypto; platform_machine == 'aarch64' and sys_platform == 'linux'"]
    arm64 = lambda_target("arm64").marker_environment()
    x86_64 = lambda_target("x86_64").marker_environment()
    assert [d.metadata["Name"] for d in resolve(on_arm, environment=arm64).bundled] == [
        "asn1crypto"
    ]
    assert resolve(on_arm, environment=x86_64) == Closure((), ())


def _private_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _fake_package(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def test_our_tests_stale_bytecode_dotfiles_and_key_material_stay_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki_home: PkiHome
) -> None:
    handler_source = b"def handler(event, context):\n    return {}\n"
    _fake_package(
        tmp_path / "src" / "fakeunit",
        {
            "__init__.py": b'"""A unit."""\n',
            "handler.py": handler_source,
            "data/profile.json": b"{}\n",
            "ca.pem": (pki_home.pki / "root-ca.pem").read_bytes(),  # public: kept
            "leaked.pem": _private_key_pem(),
            "embedded.txt": b"note\n" + _private_key_pem(),
            "signer.key": b"whatever is in it\n",
            "keys.py": b"KEY = '''" + _private_key_pem() + b"'''\n",
            "test_handler.py": b"",
            "conftest.py": b"",
            "tests/test_more.py": b"",
            f"__pycache__/handler.{CACHE_TAG}.pyc": b"stale",
            ".handler.py.swp": b"",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    unit = Unit("fake", "fakeunit.handler.handler", ("fakeunit",), (), "a test unit")

    result = build_unit(unit, tmp_path / "dist")
    with zipfile.ZipFile(result.path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read(MANIFEST_NAME))
        compiled = archive.read(f"fakeunit/__pycache__/handler.{CACHE_TAG}.pyc")
    assert names == [
        "fakeunit/__init__.py",
        f"fakeunit/__pycache__/__init__.{CACHE_TAG}.pyc",
        f"fakeunit/__pycache__/handler.{CACHE_TAG}.pyc",
        "fakeunit/ca.pem",
        "fakeunit/data/profile.json",
        "fakeunit/handler.py",
        MANIFEST_NAME,
    ]
    excluded = [
        f"fakeunit/__pycache__/keys.{CACHE_TAG}.pyc",  # a key in a module: its bytecode too
        "fakeunit/embedded.txt",
        "fakeunit/keys.py",
        "fakeunit/leaked.pem",
        "fakeunit/signer.key",
    ]
    assert manifest["excluded_key_material"] == excluded
    assert list(result.excluded_key_material) == excluded
    assert manifest["distributions"] == []
    assert manifest["bytecode"] == {"modules": 2, "invalidation": "unchecked-hash"}
    # This build's bytecode, not the stale file beside the source.
    assert pyc_header(compiled) == (
        importlib.util.MAGIC_NUMBER,
        0b01,
        importlib.util.source_hash(handler_source),
    )
    assert marshal.loads(compiled[16:]).co_filename == "fakeunit/handler.py"

    misspelt = Unit("fake", "fakeunit.handlers.handler", ("fakeunit",), (), "a test unit")
    with pytest.raises(PackagingError, match=r"handler fakeunit\.handlers\.handler is not"):
        build_unit(misspelt, tmp_path / "dist")


def test_a_module_of_ours_that_does_not_compile_stops_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_package(
        tmp_path / "src" / "brokenunit",
        {"__init__.py": b"", "handler.py": b"def handler(event, context):\n    return {\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    unit = Unit("broken", "brokenunit.handler.handler", ("brokenunit",), (), "a test unit")
    with pytest.raises(PackagingError, match=r"broken: brokenunit/handler\.py does not compile"):
        build_unit(unit, tmp_path / "dist")
    assert not (tmp_path / "dist" / "broken.zip").exists()


def _fake_distribution(
    root: Path, name: str, tags: Sequence[str]
) -> importlib.metadata.Distribution:
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\n" + "".join(f"Tag: {t}\n" for t in tags))
    return importlib.metadata.PathDistribution(info)


def test_wheels_that_would_not_load_on_lambda_are_named(tmp_path: Path) -> None:
    dists = [
        _fake_distribution(tmp_path, "newglibc", ["cp311-abi3-manylinux_2_34_x86_64"]),
        _fake_distribution(tmp_path, "al2", ["cp311-cp311-manylinux_2_26_x86_64"]),
        _fake_distribution(
            tmp_path,
            "either",
            ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"],
        ),
        _fake_distribution(tmp_path, "pure", ["py3-none-any"]),
        _fake_distribution(tmp_path, "musl", ["cp311-cp311-musllinux_1_2_x86_64"]),
        _fake_distribution(tmp_path, "arm", ["cp311-cp311-manylinux2014_aarch64"]),
    ]
    x86 = LambdaTarget("python3.11", "x86_64", "3.11")
    assert compatibility_problems(dists, x86) == [
        "newglibc 1.0 needs glibc 2.34; the python3.11 runtime (Amazon Linux 2) allows at most "
        "2.17 (manylinux2014_x86_64)",
        "al2 1.0 needs glibc 2.26; the python3.11 runtime (Amazon Linux 2) allows at most "
        "2.17 (manylinux2014_x86_64)",
        "musl 1.0 is built for musl; Lambda uses glibc",
        "arm 1.0 is built for manylinux2014_aarch64, not for Linux x86_64 (x86_64)",
    ]
    assert compatibility_problems(dists[-1:], LambdaTarget("python3.11", "arm64", "3.11")) == []
    assert compatibility_problems(dists[2:4], x86) == []
    # An unknown runtime is held to the policy's glibc: 2.17.
    later = LambdaTarget("python3.99", "x86_64", "3.99")
    assert compatibility_problems(dists[1:2], later) == [
        "al2 1.0 needs glibc 2.26; python3.99 allows at most 2.17 (manylinux2014_x86_64)"
    ]


def test_scratch_folders_are_removed_after_a_build(tmp_path: Path) -> None:
    with Staging() as staging:
        folder = staging.folder("probe")
        assert folder.is_dir()
    assert not folder.exists()
