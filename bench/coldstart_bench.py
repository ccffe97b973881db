"""Lambda cold start of the validation unit from its zip: import plus first response.

One command: ``python bench/coldstart_bench.py``. It builds ``validation.zip`` as
``certsight package`` does (pip installs the closure for the Lambda platform; bytecode
is compiled into the zip), unpacks it, and starts N fresh interpreters the way
tests/packaging/ does (tests/lambda_sandbox.py: ``python -S -I -B``, no venv, no
bytecode written, as in Lambda's read-only /var/task), with the unpacked zip and then
the venv's copies of the runtime-provided distributions on sys.path. Each one imports
``responders.lambda_handler`` and answers one OCSP POST for a good certificate, with a
PKI folder that holds no CA key and the home's SQLite store. The median of the zip as
built is compared with the 300 ms limit in the same run.

Two more variants in the same rounds say where the time goes: the same zip with its
bytecode removed (what the build shipped before it compiled any), and the venv as
bench/ocsp_bench.py measures it. Rounds interleave the variants so that a busy moment
of the machine hits them alike. Results go to bench/RESULTS.md (``--no-write``: print
only).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import py_compile
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "coldstart"
LIMIT_MS = 300.0
sys.path.insert(0, str(ROOT))

from bench.results import machine, record  # noqa: E402
from certsight.packaging import UNITS, build_unit  # noqa: E402
from tests.conftest import make_home  # noqa: E402
from tests.lambda_sandbox import (  # noqa: E402
    LAMBDA_PRELUDE,
    LAMBDA_PYTHON,
    OCSP_SCRIPT,
    pki_without_ca_keys,
    runtime_provided_copy,
    unpack,
)
from tests.responders.test_lambda import ocsp_request, v2_event  # noqa: E402


@dataclass
class Variant:
    name: str
    command: tuple[str, ...]  # the interpreter and its flags
    unit_dir: Path
    runtime_dir: Path
    cold_ms: list[float] = field(default_factory=list)  # import + first response
    wall_ms: list[float] = field(default_factory=list)  # the whole process


@dataclass
class Setup:
    zip_bytes: int
    unpacked_bytes: int
    pki_dir: Path
    store: Path
    events: str
    load: list[float] = field(default_factory=list)  # 1-minute load average, start and end


def compile_ahead(folder: Path) -> None:
    """Bytecode that needs no source timestamp, for the runtime's own libraries (pip
    compiles them on install; the copies made here have none)."""
    compileall.compile_dir(
        folder, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )


def without_bytecode(folder: Path) -> Path:
    """The unpacked zip as the build made it before it compiled bytecode."""
    for cache in sorted(folder.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    return folder


def prepare() -> tuple[Setup, list[Variant]]:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    built = build_unit(UNITS["validation"], WORK / "dist")
    as_built = unpack(built.path, WORK / "validation")
    bare = without_bytecode(unpack(built.path, WORK / "validation-no-bytecode"))
    # The runtime's own libraries come with bytecode, as pip-installed packages do.
    runtime = runtime_provided_copy(WORK / "lambda-runtime")
    compile_ahead(runtime)
    home = make_home(WORK / "home")
    pki_dir = pki_without_ca_keys(home, WORK / "function-pki")
    events = json.dumps([v2_event("POST", "/ocsp", ocsp_request(home, home.good))])
    setup = Setup(built.zip_bytes, built.unpacked_bytes, pki_dir, home.home.pki.store, events)
    variants = [
        Variant("validation.zip as built (bytecode in the zip)", LAMBDA_PYTHON, as_built, runtime),
        Variant("validation.zip, its bytecode removed (as before)", LAMBDA_PYTHON, bare, runtime),
        Variant("venv, as bench/ocsp_bench.py", (sys.executable,), ROOT, ROOT),
    ]
    return setup, variants


def run_once(variant: Variant, setup: Setup) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "CERTSIGHT_PKI_DIR": str(setup.pki_dir),
        "CERTSIGHT_STORE": str(setup.store),
    }
    started = time.perf_counter()
    done = subprocess.run(
        [
            *variant.command,
            "-c",
            LAMBDA_PRELUDE + OCSP_SCRIPT,
            str(variant.unit_dir),
            str(variant.runtime_dir),
            setup.events,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall = (time.perf_counter() - started) * 1000
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"{variant.name} failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(line.removeprefix("RESULT "))
    status = result["results"][0]["statusCode"]
    if status != 200:
        raise RuntimeError(f"{variant.name}: the OCSP answer was HTTP {status}")
    variant.cold_ms.append(float(result["cold_ms"]))
    variant.wall_ms.append(wall)


def report(setup: Setup, variants: list[Variant], runs: int) -> str:
    rows = [
        "| variant | import + first response, median ms | fastest ms | runs ms "
        "| whole process, median ms |",
        "|---|---:|---:|---|---:|",
    ]
    for v in variants:
        rows.append(
            f"| {v.name} | {statistics.median(v.cold_ms):.0f} | {min(v.cold_ms):.0f} | "
            f"{', '.join(f'{c:.0f}' for c in v.cold_ms)} | {statistics.median(v.wall_ms):.0f} |"
        )
    as_built = statistics.median(variants[0].cold_ms)
    bare = statistics.median(variants[1].cold_ms)

    def verdict(ms: float) -> str:
        return "met" if ms < LIMIT_MS else "NOT met"

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["python", "bench/coldstart_bench.py", *sys.argv[1:]])
    return "\n".join(
        [
            f"### Lambda cold start from the unpacked validation.zip, {stamp}",
            "",
            f"- machine: {machine()}",
            f"- command: `{command}` ({runs} rounds; each round starts one fresh interpreter "
            "per variant)",
            f"- 1-minute load average at start and end: "
            f"{' and '.join(f'{x:.2f}' for x in setup.load)} (the machine is shared; above "
            f"{os.cpu_count()} the runs waited for a core, and the fastest run is the best "
            "estimate of the uncontended cost)",
            f"- validation.zip: {setup.zip_bytes / 2**20:.1f} MiB, "
            f"{setup.unpacked_bytes / 2**20:.1f} MiB unpacked (built by `certsight package`: "
            "manylinux2014 wheels through pip, unchecked-hash bytecode for every module)",
            "- zip variants: `python -S -I -B`, sys.path = the unpacked zip, then the venv's "
            "copies of the runtime-provided distributions (boto3 family, with bytecode); one "
            "OCSP POST for a good certificate through `responders.lambda_handler.handler`; "
            "PKI folder without CA keys, SQLite store. The interpreter's own start-up is in "
            "the whole-process column only, as in bench/ocsp_bench.py",
            "",
            *rows,
            "",
            f"- limit: import + first response < {LIMIT_MS:.0f} ms. As built: {as_built:.0f} ms, "
            f"{verdict(as_built)} (without its bytecode: {bare:.0f} ms, {verdict(bare)})",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per variant")
    parser.add_argument("--no-write", action="store_true", help="print, do not touch RESULTS.md")
    args = parser.parse_args()

    print("building and unpacking validation.zip ...", flush=True)
    setup, variants = prepare()
    setup.load.append(os.getloadavg()[0])
    for round_number in range(1, args.runs + 1):
        print(f"round {round_number}/{args.runs} ...", flush=True)
        for variant in variants:
            run_once(variant, setup)
    setup.load.append(os.getloadavg()[0])
    text = report(setup, variants, args.runs)
    print(text)
    if not args.no_write:
        record(text)


if __name__ == "__main__":
    main()
