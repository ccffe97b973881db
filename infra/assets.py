"""The Lambda code of a stack: the zip `make package` built, read as it is.

No bundling happens at synthesis (there is no Docker on the build machines, and the
zip the tests ran against is the one that ships). The zip's own manifest
(``certsight-unit.json``) says its handler, runtime and architecture, so a function
cannot be configured for another Python or CPU than its bytecode and wheels.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

MANIFEST = "certsight-unit.json"


class AssetError(RuntimeError):
    """A unit zip is missing or is not what its name says."""


@dataclass(frozen=True)
class UnitCode:
    """A unit zip and what its manifest says about it."""

    unit: str
    path: Path
    handler: str
    runtime: lambda_.Runtime
    architecture: lambda_.Architecture
    content_sha256: str

    @property
    def code(self) -> lambda_.Code:
        return lambda_.Code.from_asset(str(self.path))


def unit_code(dist: Path, unit: str) -> UnitCode:
    """``DIST/UNIT.zip``, checked: it exists, it is a zip, and its manifest names it."""
    path = dist / f"{unit}.zip"
    if not path.is_file():
        raise AssetError(f"{path} is missing: run `make package` (or `certsight package {unit}`)")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise AssetError(f"{path} is not a certsight unit zip ({exc})") from exc
    if manifest.get("unit") != unit:
        raise AssetError(f"{path} holds unit {manifest.get('unit')!r}, not {unit!r}")
    architecture = {"x86_64": lambda_.Architecture.X86_64, "arm64": lambda_.Architecture.ARM_64}
    try:
        return UnitCode(
            unit=unit,
            path=path,
            handler=str(manifest["handler"]),
            runtime=lambda_.Runtime(str(manifest["runtime"]), lambda_.RuntimeFamily.PYTHON),
            architecture=architecture[str(manifest["architecture"])],
            content_sha256=str(manifest["content_sha256"]),
        )
    except KeyError as exc:
        raise AssetError(f"{path}: its manifest lacks or mis-states {exc}") from exc
