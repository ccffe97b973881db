"""The real units, built once per session: building all four takes about half a minute."""

from __future__ import annotations

from pathlib import Path

import pytest

from certsight.packaging import (
    BuiltUnit,
    build_units,
)
from tests.lambda_sandbox import (
    runtime_provided_copy,
    unpack,
)
from tests.packaging.support import (
    BUILDABLE,
)


# -- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuiltUnit]:
    out = tmp_path_factory.mktemp("dist")
    return {b.unit.name: b for b in build_units(out, BUILDABLE)}


@pytest.fixture(scope="session")
def unpacked(
    built: dict[str, BuiltUnit], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("unpacked")
    return {name: unpack(b.path, root / name) for name, b in built.items()}


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runtime_provided_copy(tmp_path_factory.mktemp("lambda-runtime"))
