"""What the packaging tests share: the units expected, and reading compiled files."""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.tags import parse_tag

ROOT = Path(__file__).resolve().parents[2]
OURS = {
    "pki",
    "responders",
    "issuance",
    "publishing",
    "ingest",
    "warehouse",
    "dashboards",
    "certsight",
    "simulator",
    "infra",
}
EXPECTED_OURS = {
    "validation": {"responders", "pki"},
    "issuance": {"issuance", "pki"},
    "publishing": {"publishing", "pki"},
    "ingest": {"ingest", "pki"},
}
BUILDABLE = sorted(EXPECTED_OURS)
# Ingest's, which fall back: the venv's versions publish no manylinux2014 wheel.
ARROW = {"numpy", "pyarrow"}
# Top-level names the runtime-provided distributions install: none may be in a zip.
RUNTIME_MODULES = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}
PRIVATE_KEY_PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/]")
CACHE_TAG = sys.implementation.cache_tag  # cpython-311: the runtime follows the venv
MANYLINUX2014_GLIBC = (2, 17)
EM_X86_64, EM_AARCH64 = 62, 183


# -- what compiled code needs, read from the files themselves ---------------------------
@dataclass(frozen=True)
class Elf:
    machine: int  # e_machine
    glibc: tuple[int, int] | None  # the newest GLIBC_x.y symbol version it needs


def read_elf(data: bytes) -> Elf:
    """e_machine and the newest ``GLIBC_x.y`` of an ELF64 little-endian file's version
    needs (SHT_GNU_verneed): what the dynamic loader demands of the C library, whatever
    the wheel's tag claims."""
    assert data[:4] == b"\x7fELF" and data[4:6] == b"\x02\x01", "not ELF64 little-endian"
    machine = int.from_bytes(data[18:20], "little")
    shoff = int.from_bytes(data[0x28:0x30], "little")
    shentsize = int.from_bytes(data[0x3A:0x3C], "little")
    shnum = int.from_bytes(data[0x3C:0x3E], "little")
    # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, ...
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    needed = []
    for _, kind, _, _, offset, _, link, count, _, _ in sections:
        if kind != 0x6FFFFFFE:  # SHT_GNU_verneed
            continue
        strings = sections[link][4]
        entry = offset
        for _ in range(count):
            _, aux_count, _, aux, next_entry = struct.unpack_from("<HHIII", data, entry)
            at = entry + aux
            for _ in range(aux_count):
                _, _, _, name, next_aux = struct.unpack_from("<IHHII", data, at)
                start = strings + name
                text = data[start : data.index(b"\0", start)].decode()
                if match := re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", text):
                    needed.append((int(match[1]), int(match[2])))
                at += next_aux
            entry += next_entry
    return Elf(machine, max(needed, default=None))


def elf_files(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as stream:
                if stream.read(4) != b"\x7fELF":
                    continue
            yield path, path.read_bytes()


def wheel_platforms(folder: Path) -> dict[str, set[str]]:
    """Each installed distribution's wheel platforms, from its WHEEL file."""
    found = {}
    for wheel in folder.glob("*.dist-info/WHEEL"):
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel.read_text().splitlines()
            if line.startswith("Tag:")
        ]
        found[wheel.parent.name] = {tag.platform for text in tags for tag in parse_tag(text)}
    return found


def loads_on_manylinux2014(platforms: set[str], machine: str) -> bool:
    """Pure, or manylinux for ``machine`` with glibc at most 2.17 (2014, 2010, 1 or
    manylinux_2_N with N <= 17)."""
    if platforms == {"any"}:
        return True
    for platform in platforms:
        if re.fullmatch(rf"manylinux(?:2014|2010|1)_{machine}", platform):
            return True
        match = re.fullmatch(rf"manylinux_2_(\d+)_{machine}", platform)
        if match and int(match[1]) <= MANYLINUX2014_GLIBC[1]:
            return True
    return False


def pyc_header(data: bytes) -> tuple[bytes, int, bytes]:
    """(magic, flags, source hash) of a PEP 552 .pyc."""
    return data[:4], int.from_bytes(data[4:8], "little"), data[8:16]


def top_level(folder: Path) -> set[str]:
    return {p.name.removesuffix(".py") for p in folder.iterdir()}


def fake_package(root: Path, files: dict[str, bytes]) -> None:
    """A package of made-up files under ``root`` (relative names, folders created)."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
