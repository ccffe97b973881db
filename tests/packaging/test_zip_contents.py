"""What each unit's zip holds, that it loads on Lambda, and runs from its folder alone."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import marshal
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.x509 import ocsp

from certsight.commands.package import package_command
from certsight.packaging import (
    MANIFEST_NAME,
    RUNTIME_PROVIDED,
    UNITS,
    BuiltUnit,
    build_unit,
    content_sha256,
)
from tests.conftest import make_home
from tests.lambda_sandbox import (
    IMPORT_SCRIPT,
    answer_ocsp_in_sandbox,
    lambda_python,
    pki_without_ca_keys,
)
from tests.packaging.support import (
    ARROW,
    BUILDABLE,
    CACHE_TAG,
    EM_X86_64,
    EXPECTED_OURS,
    MANYLINUX2014_GLIBC,
    OURS,
    PRIVATE_KEY_PEM,
    ROOT,
    RUNTIME_MODULES,
    elf_files,
    loads_on_manylinux2014,
    pyc_header,
    read_elf,
    top_level,
    wheel_platforms,
)
from tests.responders.test_lambda import (
    assert_signed_by_delegated_signer,
    ocsp_request,
    ocsp_response_of,
    v2_event,
)


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
        package_command,
        ["publishing", "validation", "--out", str(tmp_path)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert [line.split()[0] for line in lines] == ["publishing.zip", "validation.zip"]
    for line, zip_name in zip(lines, ["publishing.zip", "validation.zip"], strict=True):
        size = (tmp_path / zip_name).stat().st_size
        assert f"{size / 2**20:,.1f} MiB" in line
    assert "handler publishing.lambda_handler.handler" in lines[0]
    # The steps go to stderr: the platform, pip's work for the first unit, reuse after.
    assert "manylinux2014_x86_64" in result.stderr
    assert "publishing:   Collecting cryptography==" in result.stderr
    assert "validation:   Collecting cachetools==" in result.stderr  # its own closure
