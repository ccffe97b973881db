"""The CloudFront standard log's layout: the fields AWS documents, the ones certsight
reads, and the ``#`` lines that open a file and name its columns.

Both readers (the fast block reader and the exact line reader) decide by it what they
can take; writers of logs (the simulator, tests, benchmarks) take the field list from here.
"""

from __future__ import annotations

from ingest.reader import decompressed
from ingest.storage import open_binary

FORMAT = "cloudfront"

# The 33 fields of today's standard logs, as AWS documents them; older logs carry the
# first 24 or 26. Files are read by their own #Fields header: this list is for writers
# of test data and benchmarks.
STANDARD_FIELDS = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
]

SOURCE = "cloudfront"  # the LAKE rows' ``source``: logged by the CDN
HITS = ["Hit", "RefreshHit", "OriginShieldHit"]  # x-edge-result-type served from a cache

# A file without these cannot give a row; the others are read when present.
REQUIRED = ("date", "time", "cs-method", "cs-uri-stem", "sc-status")
USED = (
    *REQUIRED,
    "c-ip",
    "cs(User-Agent)",
    "x-edge-result-type",
    "x-edge-request-id",
    "sc-bytes",
    "time-taken",
)


class Irregular(Exception):
    """The fast reader met something only the exact reader handles (a bad line, a header
    in the middle, a blank line): it hands over at the first line it did not deliver."""


def leading_header(uri: str, compressed: bool) -> tuple[int, list[str] | None]:
    """How many ``#`` lines open the file, and the fields they name."""
    count, fields = 0, None
    with open_binary(uri) as raw, decompressed(raw, compressed) as handle:
        for line in handle:
            if not line.startswith(b"#"):
                break
            count += 1
            if line.startswith(b"#Fields:"):
                fields = line[len(b"#Fields:") :].decode("ascii", errors="replace").split()
    return count, fields
