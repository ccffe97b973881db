"""The deployable units: what each zip holds, that it loads on Lambda, and runs alone.

The zips are built for real (pip installs each unit's closure for the Lambda platform
from the configured index and its cache), unpacked, and checked: every compiled file
comes from a wheel that needs no newer glibc than manylinux2014's 2.17 (by the wheels'
tags and by the ELF files' own symbol versions), every module has bytecode for this
Python, and each unit's handler is imported by a fresh interpreter that cannot see the
venv (tests/lambda_sandbox.py), without compiling any module of the zip. The
validation unit then answers real OCSP requests from that folder, with a PKI folder
holding no CA key, and the ingest unit, whose numpy and pyarrow fall back to older
versions (the venv's publish no manylinux2014 wheels), ingests a real SQS batch of S3
notifications on moto's server into a LAKE that is read back. A build from a
wheelhouse is checked with the network cut off. How a version is chosen when the
venv's has no wheel is tested on made-up distributions, through pip from a local
wheelhouse and with a stand-in for pip.
"""

from __future__ import annotations

import base64
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
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from packaging.requirements import Requirement
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import Version
from pyarrow import fs as pafs

from certsight.commands.package import package_command
from certsight.packaging import (
    MANIFEST_NAME,
    RUNTIME_PROVIDED,
    UNITS,
    BuiltUnit,
    Closure,
    DependencyError,
    InstallError,
    LambdaTarget,
    NoMatchingWheel,
    PackagingError,
    Staging,
    Unit,
    UnitsFailed,
    UnknownUnitError,
    build_unit,
    build_units,
    compatibility_problems,
    content_sha256,
    install_with_fallbacks,
    lambda_target,
    project_specifiers,
    resolve,
)
from ingest.lake import Lake
from ingest.lambda_handler import handle as handle_ingest_batch
from tests.conftest import PkiHome, make_home
from tests.ingest.conftest import as_lines, responder_records, write_jsonl
from tests.ingest.test_cloudfront import FIELDS_33 as CLOUDFRONT_FIELDS
from tests.ingest.test_cloudfront import cloudfront_stem, write_log
from tests.ingest.test_cloudfront import line as cloudfront_line
from tests.ingest.test_lambda_ingest import s3_message
from tests.lambda_sandbox import (
    IMPORT_SCRIPT,
    answer_ocsp_in_sandbox,
    ingest_in_sandbox,
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
from tests.responders.test_ocsp_core import load as load_certificate
from tests.responders.test_ocsp_core import request_der

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
    "ingest": {"ingest", "pki"},
}
BUILDABLE = sorted(EXPECTED_OURS)
# Ingest's, which fall back: the venv's versions publish no manylinux2014 wheel.
ARROW = {"numpy", "pyarrow"}
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
    assert ARROW & names == (ARROW if unit == "ingest" else set())

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
    for entry in manifest["distributions"]:  # a version other than the venv's says why
        assert entry["venv_version"] == importlib.metadata.version(entry["name"])
        fell_back = entry["version"] != entry["venv_version"]
        assert ("fallback" in entry) == fell_back == (entry["name"] in ARROW), entry
    assert sorted(f.name for f in built[unit].fallbacks) == sorted(ARROW & set(bundled))
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


# -- the ingest unit at work, with its fallback versions ---------------------------------
INGEST_TABLES = ("ocsp_requests", "crl_fetches", "artifact_downloads", "quarantine")
JOIN_ID = "e2e-join=="  # CloudFront's x-edge-request-id, logged by the responder too


def write_ingest_raw(home: PkiHome, root: Path) -> list[Path]:
    """A responder access log (every kind of record, the OCSP one reached through
    CloudFront) and the CloudFront standard log of that OCSP GET and a CRL download, so
    that the run joins the CDN row with its origin's record."""
    records = responder_records(home)
    records[0]["cf_request_id"] = JOIN_ID  # the POST of the good and the revoked CertID
    for record in records:
        record["event_time"] = "2026-11-27T23:59:57.000000Z"
    responder = write_jsonl(root / "a-responder" / "batch-00001.jsonl.gz", as_lines(records))
    issuer = load_certificate(home.home.pki.issuing_cert)
    ocsp_get = cloudfront_stem(request_der(load_certificate(home.good), issuer), "windows")
    cdn = write_log(
        root / "cloudfront" / "E2EXAMPLE.2026-11-27-23.abcd1234.gz",
        CLOUDFRONT_FIELDS,
        [
            cloudfront_line(
                CLOUDFRONT_FIELDS, **{"cs-uri-stem": ocsp_get, "x-edge-request-id": JOIN_ID}
            ),
            cloudfront_line(
                CLOUDFRONT_FIELDS, **{"cs-uri-stem": "/crl/issuing-ca.crl", "sc-bytes": "4096"}
            ),
        ],
    )
    return [responder, cdn]


def read_lake(filesystem: pafs.S3FileSystem, root: str) -> dict[str, list[dict[str, Any]]]:
    """Every table of a LAKE on S3 as rows, by the venv's own pyarrow, in a stable order."""
    tables = {}
    for table in INGEST_TABLES:
        found = filesystem.get_file_info(pafs.FileSelector(f"{root}/{table}", allow_not_found=True))
        rows = (
            pq.read_table(f"{root}/{table}", filesystem=filesystem, partitioning="hive").to_pylist()
            if found
            else []
        )
        tables[table] = sorted(rows, key=lambda row: (row["source_line"], row.get("serial") or ""))
    return tables


@pytest.mark.slow
def test_ingest_unit_ingests_an_sqs_batch_from_its_unpacked_zip(
    built: dict[str, BuiltUnit],
    unpacked: dict[str, Path],
    runtime_dir: Path,
    pki_home: PkiHome,
    aws_env: str,
    tmp_path: Path,
) -> None:
    """The ingest zip works, not only imports: its handler, run from the unpacked folder
    with the fallback numpy and pyarrow, turns a real SQS batch of S3 ObjectCreated
    notifications for RAW objects on moto's server into LAKE rows; read back by the
    venv's pyarrow, they are the rows the venv's own numpy and pyarrow make."""
    manifest = json.loads((unpacked["ingest"] / MANIFEST_NAME).read_text())
    listed = {entry["name"]: entry for entry in manifest["distributions"]}
    for name in ARROW:  # the venv's versions publish no manylinux2014 wheel
        entry = listed[name]
        assert entry["venv_version"] == importlib.metadata.version(name)
        assert Version(entry["version"]) < Version(entry["venv_version"])
        assert entry["fallback"] == f"no manylinux2014 wheel for {entry['venv_version']}"
    assert {(f.name, f.bundled_version) for f in built["ingest"].fallbacks} == {
        (name, listed[name]["version"]) for name in ARROW
    }

    bucket = f"certsight-{uuid.uuid4().hex[:10]}"
    s3 = boto3.session.Session().client("s3")
    s3.create_bucket(Bucket=bucket)
    raw = write_ingest_raw(pki_home, tmp_path / "raw")
    keys = [f"raw/{path.relative_to(tmp_path / 'raw').as_posix()}" for path in raw]
    for path, key in zip(raw, keys, strict=True):
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    event = {"Records": [s3_message(bucket, key, f"m{n}") for n, key in enumerate(keys)]}

    function_env = {name: value for name, value in os.environ.items() if name.startswith("AWS_")}
    answer = ingest_in_sandbox(
        unpacked["ingest"],
        runtime_dir,
        event,
        {**function_env, "CERTSIGHT_LAKE": f"s3://{bucket}/lake"},
    )
    assert answer.result == {"batchItemFailures": []}
    # The zip's numpy and pyarrow did the work: the fallback versions, from the zip.
    assert answer.versions == {name: listed[name]["version"] for name in ARROW}
    for name in ARROW:
        assert Path(answer.files[name]).is_relative_to(unpacked["ingest"]), answer.files

    filesystem = pafs.S3FileSystem(
        endpoint_override=aws_env.removeprefix("http://"), scheme="http", region="us-east-1"
    )
    lake = read_lake(filesystem, f"{bucket}/lake")
    ocsp_rows = lake["ocsp_requests"]
    good, revoked = pki_home.good_serial.lower(), pki_home.revoked_serial.lower()
    assert [(r["source"], r["source_line"]) for r in ocsp_rows] == [
        ("lambda", 1),  # the POST of two CertIDs: a row each
        ("lambda", 1),
        ("lambda", 2),  # the malformed request: one row without CertID
        ("cloudfront", 3),  # the GET, below the log's two header lines
    ]
    assert {(r["serial"], r["cert_status"]) for r in ocsp_rows[:2]} == {
        (good, "good"),
        (revoked, "revoked"),
    }
    assert (ocsp_rows[2]["serial"], ocsp_rows[2]["response_status"]) == (None, "malformedRequest")
    cdn = ocsp_rows[3]
    assert (cdn["serial"], cdn["client_ip"], cdn["user_agent"], cdn["http_method"]) == (
        good,
        "198.51.100.7",
        "Microsoft-CryptoAPI/10.0",
        "GET",
    )
    # Joined with the responder's record of the same request: what only the origin knew.
    assert (cdn["cf_request_id"], cdn["response_status"], cdn["cert_status"]) == (
        JOIN_ID,
        "successful",
        "good",
    )
    assert cdn["origin_latency_ms"] == ocsp_rows[0]["latency_ms"] > 0
    assert {r["dt"] for r in ocsp_rows} == {"2026-11-27"}
    assert [(r["source"], r["crl_name"]) for r in lake["crl_fetches"]] == [
        ("lambda", "issuing-ca"),
        ("cloudfront", "issuing-ca"),
    ]
    assert lake["crl_fetches"][1]["bytes"] == 4096
    assert [r["path"] for r in lake["artifact_downloads"]] == ["/ca/root-ca.crt", "/wp-admin"]
    assert lake["quarantine"] == []
    sources = {r["source_object"] for rows in lake.values() for r in rows}
    assert sources == {f"s3://{bucket}/{key}" for key in keys}
    runs = filesystem.get_file_info(pafs.FileSelector(f"{bucket}/lake/_manifest"))
    assert len(runs) == 1  # one run for the batch, committed

    # The venv's numpy and pyarrow, on the same batch, make the same rows.
    assert handle_ingest_batch(event, Lake.at(f"s3://{bucket}/venv-lake")) == answer.result
    venv_lake = read_lake(filesystem, f"{bucket}/venv-lake")
    assert venv_lake == lake


# -- a version without a wheel for Lambda: the fallback, on made-up distributions -------
def _dist_info(
    root: Path, name: str, version: str, requires: Sequence[str] = ()
) -> dict[str, bytes]:
    """The files of an installed pure-Python distribution (``name`` imports as its
    module name), written under ``root``; returned by their names, for a wheel."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'VERSION = "{version}"\n'.encode(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires)
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(
        f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()}"
        f",{len(d)}\n"
        for n, d in files.items()
    )
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return files


def _wheel(folder: Path, name: str, version: str, requires: Sequence[str] = ()) -> Path:
    """A pure-Python wheel in ``folder``, as a wheelhouse holds it."""
    files = _dist_info(folder / "unpacked" / f"{name}-{version}", name, version, requires)
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for relative, data in files.items():
            archive.writestr(relative, data)
    return path


NUM, FRAME = "certsight-fake-num", "certsight-fake-frame"


@pytest.fixture
def fake_venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Unit:
    """A venv with certsight-fake-num 3.0 and certsight-fake-frame 1.4 (which needs num
    1.5 or later on Linux, and older than 1.9 on Windows only), and a unit of ours that
    needs frame and num 1.2 or later."""
    site = tmp_path / "venv-site"
    _dist_info(site, NUM, "3.0")
    _dist_info(site, FRAME, "1.4", [f"{NUM}>=1.5", f"{NUM}<1.9; sys_platform == 'win32'"])
    _fake_package(
        site / "fakeunit",
        {"__init__.py": b"", "handler.py": b"def handler(event, context):\n    return {}\n"},
    )
    monkeypatch.syspath_prepend(str(site))
    return Unit("fake", "fakeunit.handler.handler", ("fakeunit",), (FRAME, f"{NUM}>=1.2"), "")


def test_a_version_without_a_wheel_falls_back_through_pip_to_the_newest_that_fits(
    fake_venv: Unit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = tmp_path / "wheels"
    for version in ("1.0", "1.4", "2.0", "3.1"):  # not 3.0, the venv's
        _wheel(wheels, NUM, version)
    _wheel(wheels, FRAME, "1.4", [f"{NUM}>=1.5"])
    notes: list[str] = []
    built = build_unit(fake_venv, tmp_path / "dist", wheelhouse=wheels, notes=notes.append)

    # 2.0: the newest with a wheel that frame (>=1.5) and the unit (>=1.2) accept, for
    # Linux (frame's Windows-only bound does not count), and not newer than the venv's.
    assert built.distributions == ((FRAME, "1.4"), (NUM, "2.0"))
    [fallback] = built.fallbacks
    assert (fallback.name, fallback.venv_version, fallback.bundled_version) == (NUM, "3.0", "2.0")
    assert fallback.reason == "no manylinux2014 wheel for 3.0 in the wheelhouse"
    assert f"pip chooses the newest {NUM}<=3.0,>=1.2,>=1.5 that has one" in "\n".join(notes)
    assert fallback.describe() == (
        f"{NUM} 2.0 bundled, not the venv's 3.0 (no manylinux2014 wheel for 3.0 in the "
        f"wheelhouse; the newest with one within <=3.0,>=1.2,>=1.5, from {NUM}>=1.2 "
        f"(the fake unit), {NUM}>=1.5 ({FRAME} 1.4))"
    )
    with zipfile.ZipFile(built.path) as archive:
        manifest = json.loads(archive.read(MANIFEST_NAME))
        code = archive.read("certsight_fake_num/__init__.py")
    assert code == b'VERSION = "2.0"\n'
    assert manifest["distributions"] == [
        {"name": FRAME, "version": "1.4", "venv_version": "1.4"},
        {
            "name": NUM,
            "version": "2.0",
            "venv_version": "3.0",
            "fallback": "no manylinux2014 wheel for 3.0 in the wheelhouse",
        },
    ]

    # The command says so on stderr, under the unit's line.
    monkeypatch.setitem(UNITS, "fake", fake_venv)
    result = CliRunner().invoke(
        package_command, ["fake", "--wheelhouse", str(wheels), "--out", str(tmp_path / "cli")]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("fake.zip")
    assert f"  fallback: {fallback.describe()}\n" in result.stderr


def test_a_fallback_that_does_not_fit_the_others_is_refused_by_name(
    fake_venv: Unit, tmp_path: Path
) -> None:
    """The older version's own requirements count, read from what pip installed."""
    wheels = tmp_path / "wheels"
    _wheel(wheels, NUM, "2.0", [f"{FRAME}>=2", "certsight-fake-absent"])
    _wheel(wheels, FRAME, "1.4", [f"{NUM}>=1.5"])
    out = tmp_path / "dist"
    with pytest.raises(InstallError) as refused:
        build_unit(fake_venv, out, wheelhouse=wheels)
    message = str(refused.value)
    assert "fake: what pip installed does not fit together" in message
    assert f"{NUM} 2.0 requires {FRAME}>=2, but {FRAME} 1.4 is in the unit" in message
    assert f"{NUM} 2.0 requires certsight-fake-absent, which is not in the unit" in message
    assert not (out / "fake.zip").exists()


def test_no_version_that_fits_is_an_error_naming_the_distribution(
    fake_venv: Unit, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    _wheel(wheels, NUM, "1.4")  # older than frame accepts
    _wheel(wheels, FRAME, "1.4", [f"{NUM}>=1.5"])
    with pytest.raises(InstallError) as refused:
        build_unit(fake_venv, tmp_path / "dist", wheelhouse=wheels)
    message = str(refused.value)
    assert message.startswith(
        f"fake: {NUM} 3.0 (the venv's) has no manylinux2014 wheel in the wheelhouse "
        f"{wheels.resolve()}, and neither has any older version within <=3.0,>=1.2,>=1.5, "
        f"from {NUM}>=1.2 (the fake unit), {NUM}>=1.5 ({FRAME} 1.4) (pip saw wheels of "
        f"{NUM} 1.4 only)"
    ), message
    assert f"No matching distribution found for {NUM}<=3.0,>=1.2,>=1.5" in message  # pip's
    assert f"-d {wheels.resolve()} '{NUM}<=3.0,>=1.2,>=1.5'" in message  # quoted for a shell


def test_the_chooser_tries_the_pins_first_and_falls_back_one_distribution_at_a_time(
    fake_venv: Unit,
) -> None:
    """pip is the chooser in a build; here a stand-in that, like pip, takes for each
    requirement the newest version with a wheel that it accepts, or names the first
    requirement that has none."""
    closure = resolve(fake_venv.requirements, "the fake unit", lambda_target().marker_environment())
    wheels = {NUM: ["1.0", "2.0", "3.1"], FRAME: ["1.3"]}  # the venv has 3.0 and 1.4
    calls: list[list[str]] = []

    def install(requirements: Sequence[str]) -> None:
        calls.append(list(requirements))
        for text in requirements:
            requirement = Requirement(text)
            seen = wheels[requirement.name]
            if not any(version in requirement.specifier for version in seen):
                raise NoMatchingWheel("pip's error", text, tuple(seen), unreachable=False)

    notes: list[str] = []
    asked, fallbacks = install_with_fallbacks("fake", closure, install, notes.append)
    assert calls == [
        [f"{FRAME}==1.4", f"{NUM}==3.0"],
        [f"{FRAME}<=1.4", f"{NUM}==3.0"],
        [f"{FRAME}<=1.4", f"{NUM}<=3.0,>=1.2,>=1.5"],
    ]
    assert {name: str(r) for name, r in asked.items()} == {
        FRAME: f"{FRAME}<=1.4",
        NUM: f"{NUM}<=3.0,>=1.2,>=1.5",
    }
    assert [(f.name, f.venv_version, f.reason) for f in fallbacks.values()] == [
        (FRAME, "1.4", "no manylinux2014 wheel for 1.4"),
        (NUM, "3.0", "no manylinux2014 wheel for 3.0"),
    ]
    assert len(notes) == 2

    wheels = {NUM: ["1.0", "3.1"], FRAME: ["1.4"]}  # none within the range
    calls.clear()
    with pytest.raises(InstallError) as refused:
        install_with_fallbacks("fake", closure, install, lambda _: None)
    assert calls == [[f"{FRAME}==1.4", f"{NUM}==3.0"], [f"{FRAME}==1.4", f"{NUM}<=3.0,>=1.2,>=1.5"]]
    assert str(refused.value).startswith(
        f"fake: {NUM} 3.0 (the venv's) has no manylinux2014 wheel in the package index, and "
        f"neither has any older version within <=3.0,>=1.2,>=1.5"
    )
    assert isinstance(refused.value.__cause__, NoMatchingWheel)


@pytest.mark.parametrize("unreachable", [False, True])
def test_no_fallback_when_pip_saw_no_version_at_all(fake_venv: Unit, unreachable: bool) -> None:
    """No versions seen (the index out of reach, an empty wheelhouse): pip's own error,
    which says what to do, and not a fallback to nothing."""
    closure = resolve(fake_venv.requirements, "the fake unit")
    seen = () if not unreachable else ("1.0",)
    missing = NoMatchingWheel("pip's error", f"{NUM}==3.0", seen, unreachable)

    def install(requirements: Sequence[str]) -> None:
        raise missing

    with pytest.raises(NoMatchingWheel) as raised:
        install_with_fallbacks("fake", closure, install, lambda _: None)
    assert raised.value is missing


def test_a_unit_requirement_carries_the_range_pyproject_declares() -> None:
    environment = lambda_target().marker_environment()
    declared = project_specifiers(environment)
    assert str(declared["pyarrow"]) == ">=17"  # pyproject.toml's dependencies
    closure = resolve(UNITS["ingest"].requirements, "the ingest unit", environment, declared)
    assert [w.describe() for w in closure.wanted_on("pyarrow")] == ["pyarrow>=17 (the ingest unit)"]
    assert closure.specifier_for("numpy").contains("1.26.0")
    assert not closure.specifier_for("numpy").contains("1.25.2")


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
