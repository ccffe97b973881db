"""What a download's path says: (kind, name, version, channel) of an ``artifact_downloads``
row, the same for the publishing server's access logs and for CloudFront's logs.

Publishing's paths (docs/publishing.md) are read by their layout:

- ``/tuf/targets/channels/{channel}/agent/<sha256>.certsight_agent-{version}-...whl``:
  ``agent``, with the version from the wheel's file name;
- ``/tuf/targets/channels/{channel}/scripts/<sha256>.{file}``: ``script``;
- ``/tuf/targets/truststore/{bundle}/{version}/<sha256>.{file}``: ``truststore``;
- ``/tuf/targets/docs/<sha256>.{file}`` and ``/docs/{file}``: ``doc``;
- ``/tuf/metadata/...``: ``other`` (TUF metadata; the name is the file);
- ``/truststore/{file}`` (plain copies): ``truststore``; ``/ca/{file}``: ``ca-certificate``.

The name is the file name with the consistent-snapshot prefix (64 hex digits and a dot)
stripped. Older layouts (``/agent/{channel}/{file}``, ``/truststore/{channel}/{file}``)
keep their earlier reading: the kind by the first segment, the version as the first
dotted number, the channel as the folder between kind and file.
"""

from __future__ import annotations

import re

Artifact = tuple[str, str, str | None, str | None]  # kind, name, version, channel

# A download's kind, by the first segment of its path (the older layouts).
ARTIFACT_KINDS = {
    "truststore": "truststore",
    "agent": "agent",
    "docs": "doc",
    "ca": "ca-certificate",
}
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)*")
_HASH_PREFIX = re.compile(r"\A[0-9a-f]{64}\.")
_WHEEL = re.compile(r"\A(?P<dist>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-.+\.whl\Z")


def _file_name(segment: str) -> str:
    return _HASH_PREFIX.sub("", segment)


def _targets(segments: list[str], path: str) -> Artifact:
    """A ``/tuf/targets/...`` path; ``segments`` start after ``targets``."""
    name = _file_name(segments[-1]) if segments else ""
    if len(segments) == 4 and segments[0] == "channels":
        channel, folder = segments[1], segments[2]
        if folder == "agent":
            wheel = _WHEEL.match(name)
            return "agent", name, wheel.group("version") if wheel else None, channel
        if folder == "scripts":
            return "script", name, None, channel
    if len(segments) == 4 and segments[0] == "truststore":
        return "truststore", name, segments[2], None
    if len(segments) == 2 and segments[0] == "docs":
        return "doc", name, None, None
    return "other", path, None, None


def artifact_of(path: str) -> Artifact:
    """(kind, name, version, channel) of a request path (already percent-decoded)."""
    segments = [s for s in path.split("/") if s]
    if len(segments) >= 2 and segments[0] == "tuf":
        if segments[1] == "targets":
            return _targets(segments[2:], path)
        return "other", _file_name(segments[-1]) if segments[1] == "metadata" else path, None, None
    kind = ARTIFACT_KINDS.get(segments[0], "other") if segments else "other"
    if kind == "other":
        return kind, path, None, None
    version = _VERSION.search(path)
    return (
        kind,
        segments[-1],
        version.group(0) if version else None,
        segments[1] if len(segments) >= 3 else None,
    )
