"""Building units: our packages and the unit's third-party closure, compiled, zipped."""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from certsight.packaging.archive import LAMBDA_UNZIPPED_LIMIT, MANIFEST_NAME, write_zip
from certsight.packaging.errors import PackagingError
from certsight.packaging.fallback import Fallback
from certsight.packaging.files import bytecode_name, is_key_material, package_files
from certsight.packaging.install import Installed, Notes, Staging, compile_bytecode, quiet
from certsight.packaging.resolve import Closure, name_of, project_specifiers, resolve
from certsight.packaging.target import LambdaTarget, lambda_target, runtime_warnings
from certsight.packaging.units import Unit, selected_units


@dataclass(frozen=True)
class BuiltUnit:
    unit: Unit
    path: Path
    target: LambdaTarget
    zip_bytes: int
    unpacked_bytes: int
    files: int
    content_sha256: str
    distributions: tuple[tuple[str, str], ...]  # (name, version), bundled
    excluded_key_material: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    fallbacks: tuple[Fallback, ...] = field(default=())  # not bundled in the venv's version


class UnitsFailed(PackagingError):
    """Some units could not be built; the others were (``built``)."""

    def __init__(self, failures: Sequence[str], built: Sequence[BuiltUnit]) -> None:
        super().__init__("\n".join(failures))
        self.failures = tuple(failures)
        self.built = tuple(built)


def _merged(unit: Unit, *parts: Mapping[str, Path]) -> dict[str, Path]:
    """Every file of the unit by its name in the zip; a name claimed twice is an error
    (a distribution overwriting one of our modules, or two overwriting each other)."""
    entries: dict[str, Path] = {}
    for part in parts:
        for name, source in part.items():
            if entries.setdefault(name, source) != source:
                raise PackagingError(f"{unit.name}: {name} comes from {entries[name]} and {source}")
    return entries


def _listed(dists: Iterable[importlib.metadata.Distribution]) -> list[dict[str, str]]:
    return [{"name": str(name_of(d)), "version": d.version} for d in dists]


def _bundled(closure: Closure, installed: Installed) -> list[dict[str, str]]:
    """Each bundled distribution: the version in the zip, the venv's (which the tests
    ran with), and, where they differ, why."""
    venv = {name_of(d): d.version for d in closure.bundled}
    reasons = {f.name: f.reason for f in installed.fallbacks}
    listed = []
    for dist in installed.dists:
        name = name_of(dist)
        entry = {"name": str(name), "version": dist.version, "venv_version": venv[name]}
        if name in reasons:
            entry["fallback"] = reasons[name]
        listed.append(entry)
    return listed


def _manifest(
    unit: Unit, closure: Closure, installed: Installed, target: LambdaTarget, modules: int
) -> dict[str, object]:
    """The manifest's fields known before writing (the writer adds hash, counts and what
    was left out): what the function must be configured with, and what the zip holds."""
    return {
        "unit": unit.name,
        "handler": unit.handler,
        "summary": unit.summary,
        "packages": sorted(unit.packages),
        "runtime": target.runtime,
        "architecture": target.architecture,
        "platform": target.platform_tag,
        "bytecode": {"modules": modules, "invalidation": "unchecked-hash"},
        "distributions": _bundled(closure, installed),
        "runtime_provided": _listed(closure.runtime_provided),
    }


def _build(
    unit: Unit, out_dir: Path, target: LambdaTarget, staging: Staging, notes: Notes
) -> BuiltUnit:
    environment = target.marker_environment()
    closure = resolve(
        unit.requirements,
        wanted_by=f"the {unit.name} unit",
        environment=environment,
        project=project_specifiers(environment) if unit.requirements else None,
    )
    ours = _merged(unit, *(dict(package_files(p)) for p in unit.packages))
    handler_file = unit.handler.rpartition(".")[0].replace(".", "/") + ".py"
    if handler_file not in ours:
        raise PackagingError(f"{unit.name}: its handler {unit.handler} is not in the unit's files")
    third_party = staging.third_party(unit.name, closure, target)
    notes(f"{unit.name}: compiling our bytecode")
    our_bytecode, failed = compile_bytecode(ours, staging.folder(f"{unit.name}-bytecode"))
    if failed:
        name, message = sorted(failed.items())[0]
        raise PackagingError(
            f"{unit.name}: {name} does not compile for {target.runtime}: {message}"
        )
    entries = _merged(unit, ours, our_bytecode, third_party.entries, third_party.bytecode)
    if MANIFEST_NAME in entries:
        raise PackagingError(f"{unit.name}: a file is named like the manifest, {MANIFEST_NAME}")
    compiled = [name for name in entries if name.endswith(".py") and bytecode_name(name) in entries]
    # A module holding a private key is left out by the writer; its bytecode holds the
    # same key, so it goes too.
    key_modules = {name for name in compiled if is_key_material(name, entries[name].read_bytes())}
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{unit.name}.zip"
    manifest = _manifest(unit, closure, third_party, target, len(compiled) - len(key_modules))
    written = write_zip(path, entries, manifest, {bytecode_name(n) for n in key_modules})

    warnings = runtime_warnings(target)
    if third_party.not_compiled:
        names = ", ".join(sorted(third_party.not_compiled))
        warnings.append(
            f"{len(third_party.not_compiled)} third-party module(s) do not compile for "
            f"{target.runtime} and ship as source only (they fail if imported): {names}"
        )
    if written.unpacked_bytes > LAMBDA_UNZIPPED_LIMIT:
        warnings.append(
            f"{written.unpacked_bytes / 2**20:,.0f} MiB unpacked: over Lambda's 250 MiB limit"
        )
    return BuiltUnit(
        unit=unit,
        path=path,
        target=target,
        zip_bytes=path.stat().st_size,
        unpacked_bytes=written.unpacked_bytes,
        files=len(written.digests),
        content_sha256=written.content_sha256,
        distributions=tuple((str(name_of(d)), d.version) for d in third_party.dists),
        excluded_key_material=tuple(written.excluded),
        warnings=tuple(warnings),
        fallbacks=third_party.fallbacks,
    )


def build_unit(
    unit: Unit,
    out_dir: Path,
    target: LambdaTarget | None = None,
    *,
    wheelhouse: Path | None = None,
    staging: Staging | None = None,
    notes: Notes = quiet,
) -> BuiltUnit:
    """``out_dir/<unit>.zip`` for ``target`` (x86_64 and this interpreter's Python by
    default), replaced atomically.

    A unit that cannot be built leaves no zip of that name behind: an older one would
    otherwise look like this build's output and could be deployed by mistake.
    ``staging`` shares installed closures between units (``wheelhouse`` is then the
    staging's); without it the unit gets scratch folders of its own.
    """
    target = target or lambda_target()
    try:
        with contextlib.ExitStack() as stack:
            if staging is None:
                staging = stack.enter_context(Staging(wheelhouse, notes))
            return _build(unit, out_dir, target, staging, notes)
    except PackagingError:
        (out_dir / f"{unit.name}.zip").unlink(missing_ok=True)
        raise


def build_units(
    out_dir: Path,
    units: Sequence[str] | None = None,
    progress: Callable[[BuiltUnit], None] | None = None,
    *,
    architecture: str = "x86_64",
    wheelhouse: Path | None = None,
    notes: Notes = quiet,
) -> list[BuiltUnit]:
    """Build the named units (all when ``units`` is empty) into ``out_dir``.

    Unknown unit names and architectures are refused before anything is built. A unit
    that fails does not stop the others: every failure is raised together at the end
    (:class:`UnitsFailed`), after the units that could be built were.
    """
    selected = selected_units(units)
    target = lambda_target(architecture)
    built: list[BuiltUnit] = []
    failures: list[str] = []
    with Staging(wheelhouse, notes) as staging:
        for unit in selected:
            try:
                result = build_unit(unit, out_dir, target, staging=staging, notes=notes)
            except PackagingError as exc:
                failures.append(f"{exc}\n  (so {out_dir / unit.name}.zip does not exist)")
                continue
            if progress is not None:
                progress(result)
            built.append(result)
    if failures:
        raise UnitsFailed(failures, built)
    return built
