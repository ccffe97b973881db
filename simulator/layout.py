"""Where each hour's records go: RAW object names and line numbers.

Both output modes use this: RAW mode writes the objects, LAKE mode writes the rows
the ingest would make of them, with the same ``source_object`` (under a
``simulate://`` prefix instead of the RAW folder) and ``source_line``. That is what
makes "lake mode equals RAW mode plus ingest" a testable statement.

- CloudFront standard logs: one gzip object per hour, named as CloudFront names
  them (``<distribution>.<YYYY-MM-DD-HH>.<id>.gz``), under ``standard-logs/`` so
  that an ingest of the whole RAW folder reads them after the responder's logs
  (objects are read in name order): CDN rows then gain the responder's answer,
  which is the usual order in production, where CDN logs arrive later.
- Responder logs: one gzip JSON-lines object per hour and kind, named like
  ``pki/rawlog.py`` names its batches.
- Issuance events (``certsight issue``): one gzip JSON-lines object per day of
  issuance under ``issuance/``, named the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from simulator.config import HOUR_US, from_us

DISTRIBUTION = "E3CERTSIGHTSIM"
CLOUDFRONT_HEADER_LINES = 2
LAKE_PREFIX = "simulate://"


def _token(seed: int, *parts: object) -> str:
    text = ":".join(str(p) for p in (seed, *parts))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class HourObjects:
    cloudfront: str
    ocsp: str
    crl: str


def hour_objects(seed: int, hour_start_us: int) -> HourObjects:
    moment = from_us(hour_start_us)
    day = moment.strftime("%Y-%m-%d")
    written = from_us(hour_start_us + HOUR_US + 7_000_000 + seed % 50_000_000)
    stamp = written.strftime("%Y%m%dT%H%M%S%f")
    pid = 1_000 + seed % 30_000
    hour = moment.strftime("%Y-%m-%d-%H")
    cloudfront = f"{DISTRIBUTION}.{hour}.{_token(seed, 'cf', hour)[:8]}.gz"
    return HourObjects(
        cloudfront=f"standard-logs/cloudfront/{cloudfront}",
        ocsp=f"ocsp/dt={day}/{stamp}-{pid}-{_token(seed, 'ocsp', hour)[:12]}.jsonl.gz",
        crl=f"crl/dt={day}/{stamp}-{pid}-{_token(seed, 'crl', hour)[:12]}.jsonl.gz",
    )


def issuance_object(seed: int, day_start_us: int) -> str:
    """The issuance events of one UTC day, as one batch written just after the day."""
    day = from_us(day_start_us).strftime("%Y-%m-%d")
    written = from_us(day_start_us + 24 * HOUR_US + 11_000_000 + seed % 50_000_000)
    stamp = written.strftime("%Y%m%dT%H%M%S%f")
    pid = 1_000 + seed % 30_000
    return f"issuance/dt={day}/{stamp}-{pid}-{_token(seed, 'issuance', day)[:12]}.jsonl.gz"


def authority_object(slug: str) -> str:
    return f"pki/{slug}.pem"


def crl_object(slug: str) -> str:
    return f"pki/crl/{slug}.crl"


@dataclass(frozen=True)
class CdnOrder:
    """The CloudFront object's lines. Records are numbered in one sequence, OCSP first,
    then CRL, then files (each kind in time order); ``order`` lists them as the file
    does, in time order, and ``line`` gives each one's line number."""

    order: np.ndarray  # int64 positions into the sequence, in file order
    line: np.ndarray  # int64 line number of each position
    counts: tuple[int, int, int]

    def lines_of(self, kind: int) -> np.ndarray:
        """Line numbers of one kind's records (0 OCSP, 1 CRL, 2 files), in its order."""
        start = sum(self.counts[:kind])
        return self.line[start : start + self.counts[kind]]


def cdn_order(
    ocsp_moments: np.ndarray, crl_moments: np.ndarray, file_moments: np.ndarray
) -> CdnOrder:
    moments = np.concatenate([ocsp_moments, crl_moments, file_moments])
    order = np.argsort(moments, kind="stable")
    line = np.empty(len(order), np.int64)
    line[order] = np.arange(len(order)) + CLOUDFRONT_HEADER_LINES + 1
    return CdnOrder(order, line, (len(ocsp_moments), len(crl_moments), len(file_moments)))
