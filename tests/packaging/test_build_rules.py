"""Errors and rules of the build, without building the real units."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import marshal
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certsight.commands.package import package_command
from certsight.packaging import (
    MANIFEST_NAME,
    RUNTIME_PROVIDED,
    UNITS,
    Closure,
    DependencyError,
    LambdaTarget,
    PackagingError,
    Staging,
    Unit,
    UnknownUnitError,
    build_unit,
    build_units,
    compatibility_problems,
    lambda_target,
    resolve,
)
from tests.conftest import PkiHome
from tests.packaging.support import (
    CACHE_TAG,
    fake_package,
    pyc_header,
)


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


def test_our_tests_stale_bytecode_dotfiles_and_key_material_stay_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki_home: PkiHome
) -> None:
    handler_source = b"def handler(event, context):\n    return {}\n"
    fake_package(
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
    fake_package(
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
