"""Unpacked copies of the real units (built once per session by tests/conftest.py's
``built``) and a copy of what the Lambda runtime provides."""

from __future__ import annotations

from pathlib import Path

import pytest

from certsight.packaging import (
    BuiltUnit,
)
from tests.lambda_sandbox import (
    runtime_provided_copy,
    unpack,
)


# -- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def unpacked(
    built: dict[str, BuiltUnit], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("unpacked")
    return {name: unpack(b.path, root / name) for name, b in built.items()}


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runtime_provided_copy(tmp_path_factory.mktemp("lambda-runtime"))
