"""A version without a wheel for Lambda: the fallback, on made-up distributions."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.requirements import Requirement

from certsight.commands.package import package_command
from certsight.packaging import (
    MANIFEST_NAME,
    UNITS,
    InstallError,
    NoMatchingWheel,
    Unit,
    build_unit,
    install_with_fallbacks,
    lambda_target,
    project_specifiers,
    resolve,
)
from tests.packaging.support import fake_package


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
    fake_package(
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
