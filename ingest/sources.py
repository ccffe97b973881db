"""Find RAW objects: files, folders (recursively), glob patterns, and S3 prefixes.

Hidden files and ``*.tmp`` are skipped: writers (the responders' log batches,
Firehose-like tools) create them under such names and rename them when complete.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pyarrow import fs as pafs

from ingest.storage import StorageError, location


class SourceError(ValueError):
    """A source that names nothing readable."""


@dataclass(frozen=True, order=True)
class SourceObject:
    """One RAW object and what identifies this version of it."""

    uri: str
    size: int
    version: str  # mtime in ns locally, the ETag on S3

    @property
    def key(self) -> str:
        return f"{self.uri}|{self.size}|{self.version}"


def _visible(path: Path) -> bool:
    return not path.name.startswith(".") and not path.name.endswith(".tmp")


def _describe(path: Path) -> SourceObject:
    stat = path.stat()
    return SourceObject(str(path.resolve()), stat.st_size, str(stat.st_mtime_ns))


def _find_s3(prefix_uri: str) -> list[SourceObject]:
    where = location(prefix_uri)
    try:
        single = where.filesystem.get_file_info(where.root)
        if single.type == pafs.FileType.File:  # one object, named exactly
            return [SourceObject(f"s3://{single.path}", single.size, str(single.mtime_ns))]
        selector = pafs.FileSelector(where.root, allow_not_found=True, recursive=True)
        infos = where.filesystem.get_file_info(selector)
    except OSError as exc:
        raise StorageError(f"{prefix_uri}: cannot list: {exc}") from exc
    found = []
    for info in infos:
        relative = info.path[len(where.root) :].lstrip("/")
        if info.type == pafs.FileType.File and all(
            _visible(Path(part)) for part in relative.split("/")
        ):
            found.append(SourceObject(f"s3://{info.path}", info.size, str(info.mtime_ns)))
    return found


def find_sources(sources: Iterable[str]) -> list[SourceObject]:
    found: dict[str, SourceObject] = {}
    for source in sources:
        if source.startswith("s3://"):
            for item in _find_s3(source):
                found[item.uri] = item
            continue
        path = Path(source).expanduser()
        if path.is_dir():
            candidates = [p for p in path.rglob("*") if p.is_file()]
        elif path.is_file():
            candidates = [path]
        elif glob.has_magic(source):
            candidates = [Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file()]
        else:
            raise SourceError(f"{source}: no such file or folder")
        for candidate in candidates:
            parts = candidate.relative_to(path).parts if path.is_dir() else (candidate.name,)
            if all(_visible(Path(part)) for part in parts):
                described = _describe(candidate)
                found[described.uri] = described
    return sorted(found.values())
