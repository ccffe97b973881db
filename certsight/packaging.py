"""Deployable units: one AWS Lambda zip per service module, built from the current venv.

Each unit ships its own package(s), ``pki/`` and the third-party distributions they
need, and nothing else: a change to one module must never redeploy, or even be inside,
another module's zip (docs/deployment.md). Third-party files come from the running
interpreter's installed distributions, copied by each distribution's RECORD; nothing is
downloaded, so a build works on an air-gapped machine and ships exactly the versions the
tests ran against. Compiled wheels bind a zip to the build's Python version and CPU:
the manifest says which, and the build warns when no Lambda runtime can load it.

Zips are reproducible: entries sorted by name, fixed timestamps and permissions, and a
manifest last (``certsight-unit.json``: unit, handler, a content hash over every other
entry, the distributions with versions), so two builds of the same files are the same
bytes and the hash identifies the content without git.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement
from packaging.tags import parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

MANIFEST_NAME: Final = "certsight-unit.json"

# What the AWS Lambda Python runtime already provides (boto3 and the libraries it pulls
# in): left out of every zip, so a unit uses the runtime's SDK, patched by AWS, and stays
# small. The one place that says so; docs/deployment.md repeats it for operators. A
# unit that needs a newer SDK than the runtime's must bundle it on purpose, by removing
# the name here, not by accident.
RUNTIME_PROVIDED: Final[frozenset[NormalizedName]] = frozenset(
    canonicalize_name(name)
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
)

# Lambda's own limit on a function's unzipped code (code and layers together).
LAMBDA_UNZIPPED_LIMIT: Final = 250 * 1024 * 1024

# The managed Python runtimes and the C library their operating system has: a compiled
# wheel tagged manylinux_2_N loads only where glibc is at least 2.N.
LAMBDA_RUNTIMES: Final[Mapping[str, tuple[str, tuple[int, int]]]] = {
    "python3.11": ("Amazon Linux 2", (2, 26)),
    "python3.12": ("Amazon Linux 2023", (2, 34)),
    "python3.13": ("Amazon Linux 2023", (2, 34)),
}
LAMBDA_ARCHITECTURES: Final[Mapping[str, str]] = {"x86_64": "x86_64", "aarch64": "arm64"}

# Every unit imports pki/, so every unit carries pki's own requirements.
_PKI_REQUIREMENTS = ("cryptography", "asn1crypto", "orjson", "boto3")


@dataclass(frozen=True)
class Unit:
    """One deployable unit: a Lambda function's code, named like its zip."""

    name: str
    handler: str  # what the function's Handler setting says: module.function
    packages: tuple[str, ...]  # ours, importable by these names
    requirements: tuple[str, ...]  # top-level third-party requirements (PEP 508)
    summary: str


UNITS: Final[Mapping[str, Unit]] = {
    unit.name: unit
    for unit in (
        Unit(
            "validation",
            "responders.lambda_handler.handler",
            ("responders", "pki"),
            (*_PKI_REQUIREMENTS, "aws-lambda-powertools"),
            "OCSP and CRL serving (mission-critical; holds the delegated OCSP signer only)",
        ),
        Unit(
            "issuance",
            "issuance.lambda_handler.handler",
            ("issuance", "pki"),
            (*_PKI_REQUIREMENTS, "aws-lambda-powertools"),
            "the CRL updater: signs every CA's CRL and stores it for validation",
        ),
        Unit(
            "publishing",
            "publishing.lambda_handler.handler",
            ("publishing", "pki"),
            (*_PKI_REQUIREMENTS, "aws-lambda-powertools"),
            "publishes the CA certificates (DER, PEM bundle, digest manifest)",
        ),
        Unit(
            "ingest",
            "ingest.lambda_handler.handler",
            ("ingest", "pki"),
            (*_PKI_REQUIREMENTS, "aws-lambda-powertools", "pyarrow", "numpy"),
            "RAW logs into the Parquet LAKE, fed by S3 notifications through SQS",
        ),
    )
}


class PackagingError(Exception):
    """A unit cannot be built; the message says which unit, file or distribution."""


class UnknownUnitError(PackagingError):
    pass


class DependencyError(PackagingError):
    """A required distribution is missing, damaged, or of a version that does not fit."""


@dataclass(frozen=True)
class Closure:
    """The installed distributions a unit needs, split by who provides them in Lambda."""

    bundled: tuple[importlib.metadata.Distribution, ...]
    runtime_provided: tuple[importlib.metadata.Distribution, ...]


@dataclass(frozen=True)
class BuiltUnit:
    unit: Unit
    path: Path
    zip_bytes: int
    unpacked_bytes: int
    files: int
    content_sha256: str
    distributions: tuple[tuple[str, str], ...]  # (name, version), bundled
    excluded_key_material: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())


# -- resolving requirements ------------------------------------------------------------
def _name_of(dist: importlib.metadata.Distribution) -> NormalizedName:
    return canonicalize_name(dist.metadata["Name"])


def _installed(requirement: Requirement, wanted_by: str) -> importlib.metadata.Distribution:
    try:
        dist = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        raise DependencyError(
            f"{requirement.name} (required by {wanted_by}) is not installed in {sys.prefix}; "
            "install the project (make package does) and build again"
        ) from None
    try:
        version = Version(dist.version)
    except InvalidVersion:
        raise DependencyError(
            f"{requirement.name} has an invalid version {dist.version!r}"
        ) from None
    if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
        raise DependencyError(
            f"{requirement.name} {dist.version} is installed, but {wanted_by} requires "
            f"{requirement.name}{requirement.specifier}"
        )
    return dist


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    """A requirement's marker, judged for this interpreter (the one the zip's compiled
    code is copied from) with each extra the parent was asked for."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in ("", *extras))


def resolve(requirements: Iterable[str], wanted_by: str = "the unit") -> Closure:
    """The transitive closure of installed distributions behind ``requirements``.

    Runtime-provided distributions end the walk: what they need, the runtime provides
    too. An unmet version constraint or a missing distribution is an error naming both
    ends, since a zip built anyway would fail only at its first cold start in AWS.
    """
    try:
        declared = [Requirement(text) for text in requirements]
    except InvalidRequirement as exc:
        raise DependencyError(f"{wanted_by}: {exc}") from None
    pending = [(requirement, wanted_by) for requirement in declared if _applies(requirement, ())]
    bundled: dict[NormalizedName, importlib.metadata.Distribution] = {}
    provided: dict[NormalizedName, importlib.metadata.Distribution] = {}
    extras_done: dict[NormalizedName, set[str]] = {}
    while pending:
        requirement, parent = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in RUNTIME_PROVIDED:
            if name not in provided:
                provided[name] = _installed(Requirement(requirement.name), parent)
            continue
        extras = {canonicalize_name(extra) for extra in requirement.extras}
        done = extras_done.get(name)
        if done is not None and extras <= done:
            if requirement.specifier:
                _installed(requirement, parent)  # the version still has to fit this parent
            continue
        dist = _installed(requirement, parent)
        bundled[name] = dist
        extras_done[name] = (done or set()) | extras
        for text in dist.requires or []:
            child = Requirement(text)
            if _applies(child, extras_done[name]):
                pending.append((child, f"{name} {dist.version}"))
    return Closure(
        tuple(bundled[n] for n in sorted(bundled)), tuple(provided[n] for n in sorted(provided))
    )


# -- the files of a unit ---------------------------------------------------------------
_PRIVATE_KEY = re.compile(
    rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=:,\- \r\n]{16,}?-----END"
)
_OUR_TEST_NAMES = re.compile(r"(test_.*|.*_test|conftest)\.py")


def is_key_material(name: str, data: bytes) -> bool:
    """A ``*.key`` file, or any file holding a PEM private key (a signer key copied into a
    package by mistake must not reach an internet-facing function)."""
    return name.endswith(".key") or _PRIVATE_KEY.search(data) is not None


def _skipped(parts: Sequence[str]) -> bool:
    return "__pycache__" in parts or parts[-1].endswith((".pyc", ".pyo"))


def package_files(package: str) -> list[tuple[str, Path]]:
    """(name in the zip, source) for one of our packages, wherever it is imported from.

    Left out: bytecode, our own tests, dotfiles (editor and VCS leftovers).
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if len(locations) != 1:
        raise PackagingError(f"package {package!r} is not importable as one folder here")
    root = Path(locations[0])
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(
            d for d in subfolders if d not in {"__pycache__", "tests", "test"} and d[0] != "."
        )
        for name in sorted(files):
            relative = (Path(folder) / name).relative_to(root)
            if name[0] == "." or _skipped(relative.parts) or _OUR_TEST_NAMES.fullmatch(name):
                continue
            found.append((f"{package}/{relative.as_posix()}", Path(folder) / name))
    return found


def distribution_files(dist: importlib.metadata.Distribution) -> list[tuple[str, Path]]:
    """(name in the zip, source) for an installed distribution, from its RECORD.

    Entries outside site-packages (console scripts, data files) and bytecode are left
    out: Lambda runs no scripts, and the venv's bytecode is bound to its paths and times.
    """
    files = dist.files
    if files is None:
        raise DependencyError(
            f"{dist.metadata['Name']} {dist.version} has no RECORD (not installed by pip?); "
            "reinstall it with pip"
        )
    found = []
    for entry in files:
        relative = entry.as_posix()
        if relative.startswith(("../", "/")) or _skipped(entry.parts):
            continue
        source = Path(str(dist.locate_file(entry)))
        if not source.is_file():
            raise DependencyError(
                f"{dist.metadata['Name']} {dist.version} is damaged: {source} is in its RECORD "
                "but not on disk; reinstall it"
            )
        found.append((relative, source))
    return found


def unit_files(unit: Unit, closure: Closure) -> dict[str, Path]:
    """Every file of the unit by its name in the zip; a name claimed twice by different
    sources is an error (two distributions overwriting each other's module)."""
    entries: dict[str, Path] = {}
    sources = [package_files(p) for p in unit.packages]
    sources += [distribution_files(d) for d in closure.bundled]
    for listing in sources:
        for name, source in listing:
            if entries.setdefault(name, source) != source:
                raise PackagingError(f"{unit.name}: {name} comes from {entries[name]} and {source}")
    return entries


# -- Lambda compatibility --------------------------------------------------------------
_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_\w+")
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _glibc_needed(platform_tag: str) -> tuple[int, int] | None:
    if match := _MANYLINUX.fullmatch(platform_tag):
        return int(match[1]), int(match[2])
    for legacy, version in _LEGACY_MANYLINUX.items():
        if platform_tag.startswith(legacy + "_"):
            return version
    return None


def wheel_tags(dist: importlib.metadata.Distribution) -> list[str]:
    """The compatibility tags the distribution's wheel was built for (its WHEEL file)."""
    text = dist.read_text("WHEEL") or ""
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def lambda_runtime() -> str:
    """The Lambda runtime matching this interpreter: compiled wheels copied from it load
    only in the same Python minor version."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def compatibility_warnings(closure: Closure, runtime: str, machine: str) -> list[str]:
    """Why the zip may not load in the Lambda runtime it is built for, one line each."""
    warnings = []
    if machine not in LAMBDA_ARCHITECTURES:
        warnings.append(f"Lambda has no {machine} architecture (x86_64 or arm64 only)")
    known = LAMBDA_RUNTIMES.get(runtime)
    if known is None:
        warnings.append(f"{runtime} is not among the Lambda runtimes this build knows")
        return warnings
    system, glibc = known
    for dist in closure.bundled:
        tags = [tag for text in wheel_tags(dist) for tag in parse_tag(text)]
        if any(tag.platform.startswith("musllinux") for tag in tags):
            warnings.append(f"{dist.metadata['Name']} is built for musl; Lambda uses glibc")
        needs = [n for tag in tags if (n := _glibc_needed(tag.platform)) is not None]
        if needs and min(needs) > glibc:
            need = min(needs)
            warnings.append(
                f"{dist.metadata['Name']} {dist.version} needs glibc {need[0]}.{need[1]}; "
                f"the {runtime} runtime ({system}) has {glibc[0]}.{glibc[1]}"
            )
    return warnings


# -- writing the zip -------------------------------------------------------------------
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say


def _entry(name: str, executable: bool) -> zipfile.ZipInfo:
    """Fixed time and permissions: reproducible, and readable by Lambda's sandbox user
    whatever the umask of the build machine was."""
    info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
    info.create_system = 3  # Unix, so that the permission bits below are honoured
    info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def content_sha256(digests: Iterable[tuple[str, str]]) -> str:
    """The unit's identity without git: SHA-256 over ``name NUL sha256(bytes) LF`` of every
    entry but the manifest, in name order (so an unpacked folder can be checked too)."""
    total = hashlib.sha256()
    for name, digest in sorted(digests):
        total.update(f"{name}\0{digest}\n".encode())
    return total.hexdigest()


@dataclass
class _Written:
    unpacked_bytes: int = 0
    digests: list[tuple[str, str]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def _write_entries(archive: zipfile.ZipFile, entries: Mapping[str, Path]) -> _Written:
    written = _Written()
    for name in sorted(entries):
        source = entries[name]
        data = source.read_bytes()
        if is_key_material(name, data):
            written.excluded.append(name)
            continue
        archive.writestr(_entry(name, os.access(source, os.X_OK)), data, compresslevel=6)
        written.unpacked_bytes += len(data)
        written.digests.append((name, hashlib.sha256(data).hexdigest()))
    return written


def _manifest(unit: Unit, closure: Closure, written: _Written, runtime: str, machine: str) -> bytes:
    def listed(dists: Iterable[importlib.metadata.Distribution]) -> list[dict[str, str]]:
        return [{"name": str(_name_of(d)), "version": d.version} for d in dists]

    document = {
        "unit": unit.name,
        "handler": unit.handler,
        "summary": unit.summary,
        "packages": sorted(unit.packages),
        "runtime": runtime,
        "architecture": LAMBDA_ARCHITECTURES.get(machine, machine),
        "content_sha256": content_sha256(written.digests),
        "files": len(written.digests),
        "unpacked_bytes": written.unpacked_bytes,
        "distributions": listed(closure.bundled),
        "runtime_provided": listed(closure.runtime_provided),
        "excluded_key_material": written.excluded,
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def build_unit(unit: Unit, out_dir: Path) -> BuiltUnit:
    """``out_dir/<unit>.zip``, replaced atomically (a reader never sees half a zip)."""
    closure = resolve(unit.requirements, wanted_by=f"the {unit.name} unit")
    entries = unit_files(unit, closure)
    if MANIFEST_NAME in entries:
        raise PackagingError(f"{unit.name}: a file is named like the manifest, {MANIFEST_NAME}")
    handler_module = unit.handler.rpartition(".")[0]
    if handler_module.replace(".", "/") + ".py" not in entries:
        raise PackagingError(f"{unit.name}: its handler {unit.handler} is not in the unit's files")
    runtime, machine = lambda_runtime(), platform.machine()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{unit.name}.zip"
    temporary = out_dir / f".{unit.name}.zip.{os.getpid()}.tmp"
    try:
        with zipfile.ZipFile(temporary, "w") as archive:
            written = _write_entries(archive, entries)
            manifest = _manifest(unit, closure, written, runtime, machine)
            archive.writestr(_entry(MANIFEST_NAME, executable=False), manifest)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    warnings = compatibility_warnings(closure, runtime, machine)
    if written.unpacked_bytes > LAMBDA_UNZIPPED_LIMIT:
        warnings.append(
            f"{written.unpacked_bytes / 2**20:,.0f} MiB unpacked: over Lambda's 250 MiB limit"
        )
    return BuiltUnit(
        unit=unit,
        path=target,
        zip_bytes=target.stat().st_size,
        unpacked_bytes=written.unpacked_bytes,
        files=len(written.digests),
        content_sha256=content_sha256(written.digests),
        distributions=tuple((str(_name_of(d)), d.version) for d in closure.bundled),
        excluded_key_material=tuple(written.excluded),
        warnings=tuple(warnings),
    )


def selected_units(names: Sequence[str] | None) -> list[Unit]:
    """The units asked for, in the order given (all when none); unknown names are an
    error before anything is built."""
    if not names:
        return list(UNITS.values())
    unknown = [name for name in names if name not in UNITS]
    if unknown:
        raise UnknownUnitError(
            f"unknown unit {', '.join(map(repr, unknown))}: choose from {', '.join(UNITS)}"
        )
    return [UNITS[name] for name in dict.fromkeys(names)]


def build_units(
    out_dir: Path,
    units: Sequence[str] | None = None,
    progress: Callable[[BuiltUnit], None] | None = None,
) -> list[BuiltUnit]:
    """Build the named units (all when ``units`` is empty) into ``out_dir``."""
    built = []
    for unit in selected_units(units):
        result = build_unit(unit, out_dir)
        if progress is not None:
            progress(result)
        built.append(result)
    return built
