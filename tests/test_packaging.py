"""The deployable units: what each zip holds, and that each runs from its zip alone.

The zips are built for real from this venv, unpacked, and each unit's handler is
imported by a fresh interpreter that cannot see the venv (``python -S -I``) with only
the unpacked folder and, as a second path entry, the venv's copies of the distributions
the Lambda runtime provides (what AWS puts beside /var/task). The validation unit then
answers real OCSP requests through its Lambda handler from that folder, with a PKI
folder holding no CA key.

The sandbox helpers below are shared with bench/coldstart_bench.py, which times the
same cold start.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from certsight.commands.package import package_command
from certsight.packaging import (
    MANIFEST_NAME,
    RUNTIME_PROVIDED,
    UNITS,
    BuiltUnit,
    Closure,
    DependencyError,
    PackagingError,
    Unit,
    UnknownUnitError,
    build_unit,
    build_units,
    compatibility_warnings,
    content_sha256,
    distribution_files,
    resolve,
)
from tests.conftest import PkiHome, make_home
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
    "ingest": {"ingest", "pki"},
}
# Top-level names the runtime-provided distributions install: none may be in a zip.
RUNTIME_MODULES = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}
PRIVATE_KEY_PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/]")


# -- the Lambda-like sandbox (shared with bench/coldstart_bench.py) --------------------
LAMBDA_PYTHON = (sys.executable, "-S", "-I", "-B")
LAMBDA_PRELUDE = "import sys\nsys.path[:0] = [sys.argv[1], sys.argv[2]]\n"


def unpack(zip_path: Path, target: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)
    return target


def runtime_provided_copy(target: Path) -> Path:
    """The venv's copies of exactly the distributions the Lambda runtime provides."""
    for name in sorted(RUNTIME_PROVIDED):
        for relative, source in distribution_files(importlib.metadata.distribution(name)):
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
    return target


def pki_without_ca_keys(home: PkiHome, target: Path) -> Path:
    """The home's PKI folder as the validation function gets it: no CA key, only the
    delegated OCSP signer's."""
    shutil.copytree(
        home.pki, target, ignore=shutil.ignore_patterns("issuing-ca.key", "root-ca.key")
    )
    return target


def lambda_python(
    unit_dir: Path, runtime_dir: Path, script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh interpreter that sees the standard library, the unpacked unit
    and the runtime's libraries, in Lambda's order, and nothing of the venv. ``-B``: as
    in Lambda's read-only /var/task, no bytecode is written beside the unit's sources."""
    return subprocess.run(
        [*LAMBDA_PYTHON, "-c", LAMBDA_PRELUDE + script, str(unit_dir), str(runtime_dir), *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


OCSP_SCRIPT = """
import json, time
started = time.perf_counter()
from responders import lambda_handler
events = json.loads(sys.argv[3])
results = [lambda_handler.handler(events[0], None)]
cold_ms = (time.perf_counter() - started) * 1000
results += [lambda_handler.handler(event, None) for event in events[1:]]
print("RESULT " + json.dumps({"cold_ms": cold_ms, "results": results}))
"""


@dataclass(frozen=True)
class SandboxAnswer:
    cold_ms: float  # import + first response, inside the fresh interpreter
    results: list[dict[str, Any]]


def answer_ocsp_in_sandbox(
    unit_dir: Path, runtime_dir: Path, pki_dir: Path, store: Path, events: Sequence[dict[str, Any]]
) -> SandboxAnswer:
    done = lambda_python(
        unit_dir,
        runtime_dir,
        OCSP_SCRIPT,
        json.dumps(list(events)),
        env={"CERTSIGHT_PKI_DIR": str(pki_dir), "CERTSIGHT_STORE": str(store)},
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return SandboxAnswer(float(data["cold_ms"]), list(data["results"]))


IMPORT_SCRIPT = """
import importlib, json
module_name, _, function = sys.argv[3].rpartition(".")
module = importlib.import_module(module_name)
assert callable(getattr(module, function)), sys.argv[3]
files = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
print("MODULES " + json.dumps({"handler": module.__file__, "files": files, "path": sys.path}))
"""


# -- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltUnit]:
    out = tmp_path_factory.mktemp("dist")
    return {b.unit.name: b for b in build_units(out)}


@pytest.fixture(scope="module")
def unpacked(
    built: dict[str, BuiltUnit], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("unpacked")
    return {name: unpack(b.path, root / name) for name, b in built.items()}


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runtime_provided_copy(tmp_path_factory.mktemp("lambda-runtime"))


def top_level(folder: Path) -> set[str]:
    return {p.name.removesuffix(".py") for p in folder.iterdir()}


# -- what each zip holds -------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("unit", sorted(EXPECTED_OURS))
def test_each_zip_holds_its_unit_pki_and_no_other_code_of_ours(
    unit: str, built: dict[str, BuiltUnit], unpacked: dict[str, Path]
) -> None:
    folder = unpacked[unit]
    names = top_level(folder)
    assert names & OURS == EXPECTED_OURS[unit]
    assert not names & RUNTIME_MODULES
    assert (folder / "cryptography").is_dir()
    assert (folder / "aws_lambda_powertools").is_dir()
    if unit == "ingest":
        assert {"pyarrow", "numpy"} <= names
    else:
        assert not {"pyarrow", "numpy"} & names

    files = [p for p in folder.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".key"]
    assert not [p for p in files if "__pycache__" in p.parts or p.suffix == ".pyc"]
    assert not [p for p in files if PRIVATE_KEY_PEM.search(p.read_bytes())]

    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["unit"] == unit
    assert manifest["handler"] == UNITS[unit].handler
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
    assert bundled["cryptography"] == importlib.metadata.version("cryptography")
    assert not set(bundled) & RUNTIME_PROVIDED
    provided = {d["name"] for d in manifest["runtime_provided"]}
    assert "boto3" in provided
    assert provided <= RUNTIME_PROVIDED


@pytest.mark.slow
@pytest.mark.parametrize("unit", sorted(EXPECTED_OURS))
def test_each_handler_imports_from_its_unpacked_zip_alone(
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
    again = build_unit(UNITS["validation"], tmp_path)
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


# -- errors and rules, without building the real units ---------------------------------
def test_an_unknown_unit_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    with pytest.raises(UnknownUnitError, match=r"'nope'.*validation, issuance, publishing, ingest"):
        build_units(tmp_path, ["validation", "nope"])
    assert not list(tmp_path.iterdir())
    result = CliRunner().invoke(package_command, ["nope", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "unknown unit 'nope'" in result.output


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


def _private_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_our_tests_bytecode_dotfiles_and_key_material_stay_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki_home: PkiHome
) -> None:
    package = tmp_path / "src" / "fakeunit"
    files = {
        "__init__.py": b'"""A unit."""\n',
        "handler.py": b"def handler(event, context):\n    return {}\n",
        "data/profile.json": b"{}\n",
        "ca.pem": (pki_home.pki / "root-ca.pem").read_bytes(),  # public: kept
        "leaked.pem": _private_key_pem(),
        "embedded.txt": b"note\n" + _private_key_pem(),
        "signer.key": b"whatever is in it\n",
        "test_handler.py": b"",
        "conftest.py": b"",
        "tests/test_more.py": b"",
        "__pycache__/handler.cpython-311.pyc": b"",
        ".handler.py.swp": b"",
    }
    for name, data in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    unit = Unit("fake", "fakeunit.handler.handler", ("fakeunit",), (), "a test unit")

    result = build_unit(unit, tmp_path / "dist")
    with zipfile.ZipFile(result.path) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read(MANIFEST_NAME))
    assert names == [
        "fakeunit/__init__.py",
        "fakeunit/ca.pem",
        "fakeunit/data/profile.json",
        "fakeunit/handler.py",
        MANIFEST_NAME,
    ]
    excluded = ["fakeunit/embedded.txt", "fakeunit/leaked.pem", "fakeunit/signer.key"]
    assert manifest["excluded_key_material"] == excluded
    assert list(result.excluded_key_material) == excluded
    assert manifest["distributions"] == []

    misspelt = Unit("fake", "fakeunit.handlers.handler", ("fakeunit",), (), "a test unit")
    with pytest.raises(PackagingError, match=r"handler fakeunit\.handlers\.handler is not"):
        build_unit(misspelt, tmp_path / "dist")


def _fake_distribution(
    root: Path, name: str, tags: Sequence[str]
) -> importlib.metadata.Distribution:
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "WHEEL").write_text("Wheel-Version: 1.0\n" + "".join(f"Tag: {t}\n" for t in tags))
    return importlib.metadata.PathDistribution(info)


def test_wheels_needing_a_newer_glibc_than_the_runtime_are_warned_about(tmp_path: Path) -> None:
    closure = Closure(
        (
            _fake_distribution(tmp_path, "newglibc", ["cp311-abi3-manylinux_2_34_x86_64"]),
            _fake_distribution(
                tmp_path,
                "either",
                ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"],
            ),
            _fake_distribution(tmp_path, "pure", ["py3-none-any"]),
            _fake_distribution(tmp_path, "musl", ["cp311-cp311-musllinux_1_2_x86_64"]),
        ),
        (),
    )
    on_al2 = compatibility_warnings(closure, "python3.11", "x86_64")
    assert on_al2 == [
        "newglibc 1.0 needs glibc 2.34; the python3.11 runtime (Amazon Linux 2) has 2.26",
        "musl is built for musl; Lambda uses glibc",
    ]
    assert compatibility_warnings(closure, "python3.12", "x86_64") == [
        "musl is built for musl; Lambda uses glibc"
    ]
    assert compatibility_warnings(Closure((), ()), "python3.9", "riscv64") == [
        "Lambda has no riscv64 architecture (x86_64 or arm64 only)",
        "python3.9 is not among the Lambda runtimes this build knows",
    ]
