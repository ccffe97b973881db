"""CloudFront standard access logs (W3C, tab-separated) into LAKE rows, vectorised.

Columns are found by the ``#Fields:`` header, so files of every era (24, 26 or 33
fields) read alike, and a header repeated mid-file (concatenated logs) is obeyed.
CloudFront percent-encodes values: each value is decoded exactly once for that,
and an OCSP GET path once more for the client's own encoding; ``+`` is never a
space. Each distinct request string (OCSP GET path, user agent) is decoded once
per run: the same certificate's GET URL repeats millions of times. Everything
else runs on whole columns with pyarrow, a block of lines at a time, so memory
stays bounded and a 2-million-line log is read in seconds.

The parts: ``fields`` (the field catalogue and the leading header), ``stems`` (what
each distinct request path means, once per run), ``csv_blocks`` (the fast pyarrow
block reader and its read-ahead thread), ``exact`` (the line-numbered reader for
irregular blocks and quarantine), ``rows`` (columns into LAKE rows) and ``reading``
(one object alone, or small ones together). Standard logging v2's JSON and Parquet
outputs have readers of their own (``v2_json``, ``v2_parquet``) that hand their fields,
renamed to the legacy names, to the same row builder (``v2_rows``).
"""

from __future__ import annotations

from ingest.formats.cloudfront.fields import FORMAT, HITS, REQUIRED, SOURCE, STANDARD_FIELDS, USED
from ingest.formats.cloudfront.reading import (
    SMALL_OBJECT,
    read_cloudfront,
    read_cloudfront_together,
)
from ingest.formats.cloudfront.stems import StemInfo, StemTable

__all__ = [
    "FORMAT",
    "HITS",
    "REQUIRED",
    "SMALL_OBJECT",
    "SOURCE",
    "STANDARD_FIELDS",
    "USED",
    "StemInfo",
    "StemTable",
    "read_cloudfront",
    "read_cloudfront_together",
]
