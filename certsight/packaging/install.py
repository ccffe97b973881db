"""Third-party code built for Lambda, and bytecode for every module of a zip.

The venv's own copies cannot be shipped: its compiled wheels are built for the build
machine's glibc, which may be newer than the runtime's. So each closure is installed
again with pip, pinned to the venv's versions, as wheels for the Lambda platform
(``--platform``, ``--only-binary=:all:``), into a staging folder; from the index pip is
configured with and its normal cache, or offline from a wheelhouse. A pinned version
that publishes no such wheel falls back to the newest older one that does and fits
(``fallback``). What pip installed is then checked against what was asked for,
against what the runtime can load, and against its own requirements.

Lambda's code folder is read-only, so bytecode not in the zip is compiled again at
every cold start. Every ``.py`` of a zip is therefore compiled here, by this
interpreter (the target's Python version), as unchecked-hash ``.pyc`` files: valid
whatever time stamps the files get when Lambda unpacks the zip, and the same bytes
in every build (fixed hash seed, names relative to the zip).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import subprocess
import sys
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from certsight.packaging.errors import InstallError, NoMatchingWheel, PackagingError
from certsight.packaging.fallback import Fallback, install_with_fallbacks, with_bundled_versions
from certsight.packaging.files import bytecode_name, distribution_files
from certsight.packaging.resolve import Closure, name_of, unmet_requirements
from certsight.packaging.target import LambdaTarget, compatibility_problems

Notes = Callable[[str], None]

PIP_TAIL_LINES: Final = 10
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_SEEN = re.compile(r"satisfies the requirement \S+ \(from versions: ([^)]*)\)")
# How pip (through urllib3) says that the index could not be reached at all.
_UNREACHABLE = re.compile(
    r"NameResolutionError|NewConnectionError|ConnectTimeoutError|ProxyError|SSLError"
    r"|Max retries exceeded|Network is unreachable|Connection refused"
)
# pip's lines worth showing while it works: one per distribution, and each download.
_PIP_PROGRESS = ("Collecting ", "Processing ", "Downloading ")


def quiet(_: str) -> None:
    """The default for ``notes``: say nothing."""


# -- pip -------------------------------------------------------------------------------
def pip_command(
    pins: Sequence[str], target: LambdaTarget, folder: Path, wheelhouse: Path | None
) -> list[str]:
    """``pip install`` of exactly ``pins`` as wheels for the target into ``folder``.

    ``--no-deps``: the closure is already resolved, and every member is pinned.
    ``--no-compile``: pip's bytecode would be timestamp-checked; the build compiles its
    own. With a wheelhouse, ``--isolated`` keeps the find-links and indexes of pip's
    configuration out, so the wheelhouse is the only source and nothing is fetched.
    """
    command = [sys.executable, "-m", "pip", "install"]
    if wheelhouse is not None:
        command += ["--isolated", "--no-index", "--find-links", str(wheelhouse)]
    command += [
        "--target",
        str(folder),
        "--platform",
        target.platform_tag,
        "--implementation",
        "cp",
        "--python-version",
        target.python_version,
        "--only-binary=:all:",
        "--no-deps",
        "--no-compile",
        "--no-input",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        *pins,
    ]
    return command


def _versions_seen(tail: Sequence[str]) -> tuple[str, ...]:
    """pip's "(from versions: ...)": the versions it found a fitting wheel of."""
    match = next((m for line in reversed(tail) if (m := _SEEN.search(line))), None)
    if match is None or match[1].strip() == "none":
        return ()
    return tuple(v.strip() for v in match[1].split(",") if v.strip())


def _pip_failure(
    unit: str,
    pins: Sequence[str],
    target: LambdaTarget,
    wheelhouse: Path | None,
    returncode: int,
    tail: Sequence[str],
    unreachable: bool,
) -> InstallError:
    source = f"the wheelhouse {wheelhouse}" if wheelhouse else "the configured package index"
    match = next((m for line in reversed(tail) if (m := _NO_MATCH.search(line))), None)
    what = match[1] if match else f"its {len(pins)} pinned distributions ({', '.join(pins)})"
    wanted = f"{target.platform_tag} and CPython {target.python_version}"
    offline = "check the network and pip's index settings, or build offline with --wheelhouse"
    if unreachable and wheelhouse is None:
        hint = f"\n  the package index is out of reach: {offline}"
    elif match is not None and wheelhouse is None and "(from versions: none)" in "".join(tail):
        # Nothing at all was seen: the index unreachable (pip says why only with retries
        # left) or a project without a single such wheel.
        name = match[1].split("==")[0]
        hint = (
            f"\n  pip saw no {name} wheel for {wanted} at all: either the package index is "
            f"out of reach ({offline}) or {name} publishes none"
        )
    elif match is None:
        hint = ""
    elif wheelhouse is not None:
        hint = (
            f"\n  the wheelhouse has no {what} wheel for {wanted}; add it with: pip download "
            f"--only-binary=:all: --no-deps --platform {target.platform_tag} "
            f"--implementation cp --python-version {target.python_version} "
            f"-d {shlex.quote(str(wheelhouse))} {shlex.quote(what)}"
        )
    elif "==" in what:
        hint = (
            f"\n  no {what} wheel for {wanted} is published, so this version (the venv's, "
            f"which the tests ran with) cannot load in the {target.runtime} runtime; "
            "choose a version that publishes one and test with it, or another runtime"
        )
    else:
        hint = f"\n  no version within {what} publishes a wheel for {wanted}"
    lines = "\n".join(f"    {line}" for line in tail) or "    (no output)"
    message = (
        f"{unit}: pip could not install {what} for {target.describe()} from {source} "
        f"(pip exited with {returncode}){hint}\n  pip's last lines:\n{lines}"
    )
    if match is None:
        return InstallError(message)
    return NoMatchingWheel(message, match[1], _versions_seen(tail), unreachable)


def pip_install(
    unit: str,
    pins: Sequence[str],
    target: LambdaTarget,
    folder: Path,
    wheelhouse: Path | None = None,
    notes: Notes = quiet,
) -> None:
    """Install ``pins`` into ``folder``; pip's progress goes to ``notes``, its failure
    becomes an :class:`InstallError` naming the unit and the requirement."""
    tail: deque[str] = deque(maxlen=PIP_TAIL_LINES)
    unreachable = False
    command = pip_command(pins, target, folder, wheelhouse)
    with subprocess.Popen(  # noqa: S603 - our interpreter's pip, arguments from the unit table
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        if process.stdout is None:  # pragma: no cover - PIPE always gives a stream
            raise InstallError(f"{unit}: pip's output could not be read")
        for line in process.stdout:
            text = line.rstrip()
            if text:
                tail.append(text)
            unreachable = unreachable or _UNREACHABLE.search(text) is not None
            if text.lstrip().startswith(_PIP_PROGRESS):
                notes(f"{unit}:   {text.strip()}")
    if process.returncode != 0:
        raise _pip_failure(unit, pins, target, wheelhouse, process.returncode, tail, unreachable)


def verify_installed(
    unit: str,
    folder: Path,
    asked: Mapping[NormalizedName, Requirement],
    closure: Closure,
    target: LambdaTarget,
) -> tuple[importlib.metadata.Distribution, ...]:
    """The distributions pip put in ``folder``, if they are exactly the ones asked for,
    each in a version its requirement accepts (the pin, or a fallback's range), every
    wheel loads in the target runtime, and together they meet their own requirements
    and the unit's; an :class:`InstallError` otherwise."""
    dists = sorted(importlib.metadata.distributions(path=[str(folder)]), key=name_of)
    found = {name_of(d): d for d in dists}
    wrong = sorted(
        f"{name} {dist.version} for {asked[name]}"
        for name, dist in found.items()
        if name in asked
        and not asked[name].specifier.contains(Version(dist.version), prereleases=True)
    )
    twice = sorted(name for name, count in Counter(map(name_of, dists)).items() if count > 1)
    if set(found) != set(asked) or wrong or twice:
        extra = [f"{n} {d.version}" for n, d in found.items() if n not in asked]
        extra += [f"{name} twice" for name in twice]
        missing = sorted(str(asked[n]) for n in set(asked) - set(found))
        raise InstallError(
            f"{unit}: pip did not install what was asked for: missing {missing or 'nothing'}, "
            f"unexpected {extra or 'nothing'}, other versions {wrong or 'none'}"
        )
    problems = compatibility_problems(dists, target)
    if problems:
        raise InstallError(
            f"{unit}: what pip installed would not load in {target.describe()}: "
            + "; ".join(problems)
        )
    unmet = unmet_requirements(
        dists, closure.declared, closure.wanted_by, target.marker_environment()
    )
    if unmet:
        raise InstallError(
            f"{unit}: what pip installed does not fit together for {target.describe()} "
            "(as pip check would say): " + "; ".join(unmet)
        )
    return tuple(dists)


# -- bytecode --------------------------------------------------------------------------
_COMPILE_SCRIPT = """
import json, py_compile, sys
failed = {}
for source, cfile, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(
            source, cfile=cfile, dfile=dfile, doraise=True, optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except py_compile.PyCompileError as exc:
        failed[dfile] = exc.msg.strip().splitlines()[-1]
json.dump(failed, sys.stdout)
"""


def compile_bytecode(
    sources: Mapping[str, Path], out: Path
) -> tuple[dict[str, Path], dict[str, str]]:
    """Compile each ``.py`` (name in the zip -> file) to ``out/<its bytecode name>``.

    Returns the bytecode (name in the zip -> file) and the modules that do not compile
    (name -> the compiler's message). One child interpreter does it all: the same
    Python as the target's, with PYTHONHASHSEED=0 (the order of set constants in
    bytecode follows string hashes) and no site-packages; the name recorded in each
    code object is its name in the zip, not a path of this machine.
    """
    jobs = [
        (str(sources[name]), str(out / bytecode_name(name)), name)
        for name in sorted(sources)
        if name.endswith(".py")
    ]
    if not jobs:
        return {}, {}
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-S", "-c", _COMPILE_SCRIPT],
        input=json.dumps(jobs),
        env={"PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PackagingError(f"compiling bytecode failed: {done.stderr.strip()[-2000:]}")
    failed: dict[str, str] = json.loads(done.stdout)
    compiled = {bytecode_name(name): Path(cfile) for _, cfile, name in jobs if name not in failed}
    return compiled, failed


# -- staging ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Installed:
    """A closure installed for the target, with its bytecode compiled."""

    folder: Path
    dists: tuple[importlib.metadata.Distribution, ...]
    entries: Mapping[str, Path]  # name in the zip -> file, from each RECORD
    bytecode: Mapping[str, Path]  # name in the zip of a .pyc -> file
    not_compiled: Mapping[str, str]  # modules the target's Python cannot compile
    fallbacks: tuple[Fallback, ...] = ()  # distributions not in the venv's version


class Staging:
    """Scratch folders for one build run, removed at its end.

    A closure is installed and compiled once per run and target, and reused by every
    unit with the same pins (validation, issuance and publishing share theirs).
    """

    def __init__(self, wheelhouse: Path | None = None, notes: Notes = quiet) -> None:
        self.wheelhouse = wheelhouse.resolve() if wheelhouse is not None else None
        self.notes = notes
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._installed: dict[tuple[tuple[str, ...], tuple[str, ...], LambdaTarget], Installed] = {}
        self._count = 0

    def __enter__(self) -> Staging:
        self._tmp = tempfile.TemporaryDirectory(prefix="certsight-package-")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self._installed.clear()

    def folder(self, label: str) -> Path:
        """A new empty folder under the staging root."""
        if self._tmp is None:
            raise RuntimeError("Staging is used outside its with block")
        self._count += 1
        path = Path(self._tmp.name) / f"{self._count:03d}-{label}"
        path.mkdir()
        return path

    def third_party(self, unit: str, closure: Closure, target: LambdaTarget) -> Installed:
        """The unit's bundled closure, installed for ``target`` (once per run)."""
        pins = closure.pins()
        # The unit's own requirements bound a fallback, so they are part of the key too.
        key = (pins, tuple(sorted(map(str, closure.declared))), target)
        if key in self._installed:
            self.notes(f"{unit}: third-party code as installed for an earlier unit")
            return self._installed[key]
        attempts: list[Path] = []

        def install(requirements: Sequence[str]) -> None:
            attempts.append(self.folder(f"{unit}-site"))  # each attempt from scratch
            pip_install(unit, requirements, target, attempts[-1], self.wheelhouse, self.notes)

        dists: tuple[importlib.metadata.Distribution, ...] = ()
        fallbacks: tuple[Fallback, ...] = ()
        if pins:
            source = f"wheelhouse {self.wheelhouse}" if self.wheelhouse else "package index"
            self.notes(
                f"{unit}: pip installs {len(pins)} distributions for {target.describe()} "
                f"from the {source}"
            )
            asked, fell_back = install_with_fallbacks(
                unit,
                closure,
                install,
                self.notes,
                where=f"the {source}",
                # A wheelhouse lacking a wheel says nothing of the index: the reason says so.
                reason_suffix=" in the wheelhouse" if self.wheelhouse else "",
            )
            dists = verify_installed(unit, attempts[-1], asked, closure, target)
            fallbacks = with_bundled_versions(unit, dists, fell_back)
        folder = attempts[-1] if attempts else self.folder(f"{unit}-site")
        entries: dict[str, Path] = {}
        for dist in dists:
            for name, source_file in distribution_files(dist):
                if entries.setdefault(name, source_file) != source_file:
                    raise InstallError(f"{unit}: {name} is installed by two distributions")
        self.notes(f"{unit}: compiling third-party bytecode")
        bytecode, failed = compile_bytecode(entries, folder)
        installed = Installed(folder, dists, entries, bytecode, failed, fallbacks)
        self._installed[key] = installed
        return installed
