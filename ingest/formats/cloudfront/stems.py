"""What each distinct cs-uri-stem of a run means: which table it feeds (its route), the
path decoded once, the CertIDs of an OCSP GET, or the artefact a download names.

The same certificate's GET URL repeats millions of times in a busy log, so a stem is
decoded once per run and kept in arrays (``StemTable``) that every block maps its rows
through without a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.formats.published_paths import artifact_of
from pki.ocsp_getpath import decode_get_request, unquote_once
from pki.ocsp_request import MalformedRequestError, request_fields

# Route of a distinct path: what table it feeds.
OCSP_GET, OCSP_OTHER, CRL, ARTIFACT = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class StemInfo:
    """What one distinct cs-uri-stem means, worked out once per run."""

    route: int
    path: str
    error: str | None
    cert_ids: tuple[tuple[str, str, str, str, bool], ...]
    artifact: tuple[str, str, str | None, str | None] | None


def _stem_info(stem: str) -> StemInfo:
    """The meaning of one stem; a GET that does not decode keeps its error, so that each
    of its lines is quarantined with the reason rather than dropped."""
    path = unquote_once(stem, errors="replace")  # once: CloudFront's own encoding
    if path == "/ocsp" or path.startswith("/ocsp/"):
        encoded = path.removeprefix("/ocsp").lstrip("/")
        if not encoded:
            return StemInfo(OCSP_OTHER, path, None, (), None)
        try:
            decoded = request_fields(decode_get_request(encoded))
        except MalformedRequestError as exc:
            return StemInfo(OCSP_GET, path, str(exc), (), None)
        return StemInfo(
            OCSP_GET,
            path,
            None,
            tuple(
                (c.hash_algorithm, c.issuer_name_hash, c.issuer_key_hash, c.serial, decoded.nonce)
                for c in decoded.cert_ids
            ),
            None,
        )
    if path.startswith("/crl/"):
        return StemInfo(CRL, path, None, (), None)
    return StemInfo(ARTIFACT, path, None, (), artifact_of(path))


class StemTable:
    """Every distinct cs-uri-stem of an ingest run, worked out once, kept as arrays so
    that each block maps its rows with vectorised lookups instead of Python loops."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.infos: list[StemInfo] = []
        self._refresh()

    def __len__(self) -> int:
        return len(self.infos)

    def ids_for(self, stems: pa.Array) -> np.ndarray:
        """The run-wide id of each distinct stem in ``stems`` (a dictionary's values)."""
        found = (
            pc.fill_null(pc.index_in(stems, value_set=self._known), -1)
            .to_numpy(zero_copy_only=False)
            .astype(np.int64)
        )
        missing = np.flatnonzero(found < 0)
        if len(missing):
            for position in missing.tolist():
                stem = stems[position].as_py()
                if stem not in self._ids:
                    self._ids[stem] = len(self.infos)
                    self.infos.append(_stem_info(stem))
                found[position] = self._ids[stem]
            self._refresh()
        return np.asarray(found, dtype=np.int64)

    def _refresh(self) -> None:
        infos = self.infos
        self._known = pa.array(list(self._ids), pa.string())
        self.route = np.array([i.route for i in infos], np.int64)
        self.has_error = np.array([i.error is not None for i in infos], bool)
        self.paths = pa.array([i.path for i in infos], pa.string())
        counts = np.array([len(i.cert_ids) for i in infos], np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        flat = [c for i in infos for c in i.cert_ids]
        # One trailing null per column: rows without a CertID point there.
        self.cert_columns = [pa.array([c[k] for c in flat] + [None], pa.string()) for k in range(4)]
        self.nonce = pa.array([c[4] for c in flat] + [None], pa.bool_())
        self.null_cert = len(flat)
