"""A Lambda-like sandbox for an unpacked unit zip, shared by tests/packaging/ and
bench/coldstart_bench.py (which times the same cold start the tests check).

A fresh interpreter that cannot see the venv (``python -S -I -B``) gets the unpacked
zip first on ``sys.path`` and, second, the venv's copies of the distributions the
Lambda runtime provides (what AWS puts beside /var/task). ``-B``: as in Lambda's
read-only /var/task, no bytecode is written beside the unit's sources, so only the
bytecode shipped in the zip can spare a compile. Of the environment, only what a test
hands over gets in (as Lambda sets only the function's variables and its own).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certsight.packaging import RUNTIME_PROVIDED, distribution_files
from tests.conftest import PkiHome

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
    and the runtime's libraries, in Lambda's order, and nothing of the venv."""
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


# Imports a handler and says which files its modules came from, and which modules had to
# be compiled from source (no usable bytecode): importlib compiles through
# SourceLoader.source_to_code only then.
IMPORT_SCRIPT = """
import importlib, importlib.machinery, json
compiled = []
_source_to_code = importlib.machinery.SourceFileLoader.source_to_code
def _recorded(self, data, path, *args, **kwargs):
    compiled.append(path)
    return _source_to_code(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = _recorded
module_name, _, function = sys.argv[3].rpartition(".")
module = importlib.import_module(module_name)
assert callable(getattr(module, function)), sys.argv[3]
files = sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
print("MODULES " + json.dumps(
    {"handler": module.__file__, "files": files, "path": sys.path, "compiled": compiled}
))
"""


# The ingest function's work on one SQS batch, and which numpy and pyarrow did it: the
# zip's own (a fallback version, when the venv's has no wheel for Lambda), not the venv's.
INGEST_SCRIPT = """
import json
from ingest import lambda_handler
import numpy, pyarrow
result = lambda_handler.handler(json.loads(sys.argv[3]), None)
print("RESULT " + json.dumps({
    "result": result,
    "versions": {"numpy": numpy.__version__, "pyarrow": pyarrow.__version__},
    "files": {"numpy": numpy.__file__, "pyarrow": pyarrow.__file__},
}))
"""


@dataclass(frozen=True)
class IngestAnswer:
    result: dict[str, Any]  # what the handler returned to SQS
    versions: dict[str, str]  # numpy and pyarrow __version__, as imported in the sandbox
    files: dict[str, str]  # where they were imported from


def ingest_in_sandbox(
    unit_dir: Path, runtime_dir: Path, event: dict[str, Any], env: dict[str, str]
) -> IngestAnswer:
    """The ingest handler run on ``event`` in the sandbox, with the function's
    environment ``env`` (``CERTSIGHT_LAKE`` and the AWS settings)."""
    done = lambda_python(unit_dir, runtime_dir, INGEST_SCRIPT, json.dumps(event), env=env)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return IngestAnswer(dict(data["result"]), dict(data["versions"]), dict(data["files"]))
