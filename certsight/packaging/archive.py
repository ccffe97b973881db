"""Writing a unit's zip: reproducible entries, key material left out, the manifest last.

Entries are sorted by name with fixed timestamps and permissions, and the manifest
(``certsight-unit.json``) comes last with a content hash over every other entry, so
two builds of the same files are the same bytes and the hash identifies the content
without git.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from certsight.packaging.files import is_key_material

MANIFEST_NAME: Final = "certsight-unit.json"

# Lambda's own limit on a function's unzipped code (code and layers together).
LAMBDA_UNZIPPED_LIMIT: Final = 250 * 1024 * 1024

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
class Written:
    """What went into a zip, for its manifest and the build's report."""

    unpacked_bytes: int = 0
    digests: list[tuple[str, str]] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    @property
    def content_sha256(self) -> str:
        return content_sha256(self.digests)


def write_zip(
    target: Path,
    entries: Mapping[str, Path],
    manifest: Mapping[str, Any],
    also_excluded: Iterable[str] = (),
) -> Written:
    """``target`` with ``entries`` (name -> file) and ``manifest`` completed by what was
    written, replaced atomically (a reader never sees half a zip).

    A file holding key material is left out, and so are the ``also_excluded`` entries
    (the bytecode of a module that holds key material), listed with them.
    """
    dropped = set(also_excluded)
    written = Written()
    temporary = target.parent / f".{target.name}.{os.getpid()}.tmp"
    try:
        with zipfile.ZipFile(temporary, "w") as archive:
            for name in sorted(entries):
                source = entries[name]
                data = source.read_bytes()
                if name in dropped or is_key_material(name, data):
                    written.excluded.append(name)
                    continue
                archive.writestr(_entry(name, os.access(source, os.X_OK)), data, compresslevel=6)
                written.unpacked_bytes += len(data)
                written.digests.append((name, hashlib.sha256(data).hexdigest()))
            document = {
                **manifest,
                "content_sha256": written.content_sha256,
                "files": len(written.digests),
                "unpacked_bytes": written.unpacked_bytes,
                "excluded_key_material": written.excluded,
            }
            text = json.dumps(document, indent=2, sort_keys=True) + "\n"
            archive.writestr(_entry(MANIFEST_NAME, executable=False), text.encode())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return written
