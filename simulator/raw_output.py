"""RAW mode: the files production would have written, under HOME/raw.

- CloudFront standard logs (33 fields, gzip, one object per hour); a GET's
  ``cs-uri-stem`` carries the real DER request, base64'd the way the client sent it
  and percent-encoded once more by CloudFront.
- The responder's access logs, gzip JSON lines in the record shape of
  ``responders/web/exchange.py`` (``adapter`` ``lambda``: the origin behind the CDN).
- ``certsight issue``'s events for the server certificates (gzip JSON lines, one
  object a day), CA certificates (PEM) and each CA's CRL (DER).

Lines are assembled by Arrow's string kernels over whole columns, never one Python
string per request; a file is written under a hidden name and renamed, as the
responders' own writer does, so that an ingest running meanwhile never reads half
of one.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from urllib.parse import quote

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ingest.formats.cloudfront import STANDARD_FIELDS
from simulator.catalogue import get_paths
from simulator.delivery import (
    CERT_STATUSES,
    CRL_HEADERS,
    FILE_HEADERS,
    OCSP_HEADERS,
    RESPONSE_STATUSES,
    CrlHour,
    DownloadHour,
    OcspHour,
)
from simulator.enterprise import Enterprise
from simulator.layout import CdnOrder, HourObjects, cdn_order
from simulator.network import EDGES
from simulator.published import (
    authority_files,
    crl_files,
    issuance_batches,
    issuance_records,
)
from simulator.software import Method, Style
from simulator.text import clock_times, day_text, fixed_width, iso_times, millis, numbers

CDN_HOST = "d3certsightsim.cloudfront.net"
SERVICE_HOST = "pki.corp.example"
CLOUDFRONT_HEADER = f"#Version: 1.0\n#Fields: {' '.join(STANDARD_FIELDS)}\n".encode()
NOT_SERVED = "issuer not served by this responder"


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _body(lines: pa.Array) -> bytes:
    """The concatenated text of a string array (lines that end in a newline), without a
    Python string per line: the array's own data buffer."""
    if len(lines) == 0:
        return b""
    offsets = np.frombuffer(lines.buffers()[1], np.int32, lines.offset + len(lines) + 1)
    data: bytes = lines.buffers()[2].to_pybytes()
    return data[int(offsets[lines.offset]) : int(offsets[-1])]


def _json_text(values: list[str | None]) -> pa.Array:
    """Each value as a JSON string literal (or ``null``); values need no escaping here."""
    return pa.array(["null" if v is None else f'"{v}"' for v in values], pa.string())


def _cdn_agent(value: str | None) -> str:
    """CloudFront logs a User-Agent percent-encoded (spaces as %20), "-" when absent."""
    return "-" if value is None else quote(value, safe="()/;:,.=+-_~*!'@")


class RawWriter:
    """Writes the enterprise's inventory once and its traffic hour by hour."""

    def __init__(self, enterprise: Enterprise, raw: Path) -> None:
        self.enterprise = enterprise
        self.raw = raw
        catalogue = enterprise.catalogue
        self.paths = get_paths(catalogue)  # each distinct request encoded once
        self.client_ip = pa.array(enterprise.clients.ip, pa.string())
        agents = enterprise.delivery.user_agents.values
        self.cdn_agent = pa.array([_cdn_agent(v) for v in agents], pa.string())
        self.json_agent = _json_text(agents)
        arrays = enterprise.model.catalogue
        self.cert_id_json = pa.array(
            [
                f'"hash_algorithm":"{h}","issuer_name_hash":"{n}","issuer_key_hash":"{k}",'
                f'"serial":"{s}","issuer_key_sha1":' + ("null" if i is None else f'"{i}"')
                for h, n, k, s, i in zip(
                    arrays.hash_algorithm.to_pylist(),
                    arrays.name_hash.to_pylist(),
                    arrays.key_hash.to_pylist(),
                    arrays.serial.to_pylist(),
                    arrays.issuer_key_sha1.to_pylist(),
                    strict=True,
                )
            ],
            pa.string(),
        )
        self.edges = pa.array(list(EDGES), pa.string())
        crls = enterprise.delivery.crls
        self.crl_path = pa.array([f"/crl/{s}.crl" for s in crls.slugs], pa.string())
        self.crl_json = pa.array([f'"crl_name":"{s}"' for s in crls.slugs], pa.string())
        self.crl_issuer_json = pa.array(
            [f'"issuer_key_sha1":"{k}"' for k in crls.issuer_key_sha1], pa.string()
        )
        files = enterprise.downloads.artifacts
        self.file_path = pa.array([a.path for a in files], pa.string())
        self.file_size = np.array([a.size for a in files], np.int64)
        self.file_type = pa.array([a.content_type for a in files], pa.string())
        self.written = 0

    # -- the inventory ----------------------------------------------------------
    def write_inventory(self) -> None:
        for relative, pem in authority_files(self.enterprise):
            self._write(relative, pem)
        for batch in issuance_batches(self.enterprise):
            lines = [orjson.dumps(r) for r in issuance_records(self.enterprise, batch)]
            self._write(batch.relative, gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1))
        for relative, der in crl_files(self.enterprise):
            self._write(relative, der)

    def _write(self, relative: str, data: bytes) -> None:
        write_atomically(self.raw / relative, data)
        self.written += len(data)

    # -- an hour of traffic -------------------------------------------------------
    def write_hour(
        self, objects: HourObjects, ocsp: OcspHour, crl: CrlHour, files: DownloadHour
    ) -> None:
        cdn_ocsp = np.flatnonzero(ocsp.via_cdn)
        cdn_crl = np.flatnonzero(crl.via_cdn)
        order = cdn_order(ocsp.requests.moment[cdn_ocsp], crl.moment[cdn_crl], files.moment)
        self._cloudfront(objects, order, ocsp, cdn_ocsp, crl, cdn_crl, files)
        origin = np.flatnonzero(ocsp.at_origin)
        if len(origin):
            lines = self._ocsp_records(ocsp, origin)
            self._write(objects.ocsp, gzip.compress(_body(lines), compresslevel=1))
        crl_origin = np.flatnonzero(crl.at_origin)
        if len(crl_origin):
            lines = self._crl_records(crl, crl_origin)
            self._write(objects.crl, gzip.compress(_body(lines), compresslevel=1))

    def _cloudfront(
        self,
        objects: HourObjects,
        order: CdnOrder,
        ocsp: OcspHour,
        ocsp_rows: np.ndarray,
        crl: CrlHour,
        crl_rows: np.ndarray,
        files: DownloadHour,
    ) -> None:
        parts = []
        if len(ocsp_rows):
            parts.append(self._cdn_ocsp(ocsp, ocsp_rows))
        if len(crl_rows):
            parts.append(self._cdn_crl(crl, crl_rows))
        if len(files):
            parts.append(self._cdn_files(files))
        if not parts:
            return
        lines = pa.concat_arrays(parts).take(pa.array(order.order))
        body = CLOUDFRONT_HEADER + _body(lines)
        self._write(objects.cloudfront, gzip.compress(body, compresslevel=4))

    def _cdn_line(
        self,
        *,
        moment: np.ndarray,
        edge: np.ndarray,
        client: np.ndarray,
        user_agent: np.ndarray,
        method: pa.Array | str,
        stem: pa.Array | str,
        body_bytes: np.ndarray,
        headers: int,
        hit: np.ndarray,
        cf_id: pa.Array,
        request_bytes: np.ndarray,
        taken_ms: np.ndarray,
        port: np.ndarray,
        content_type: pa.Array | str,
    ) -> pa.Array:
        result = pc.if_else(pa.array(hit), "Hit", "Miss")
        day = day_text(int(moment[0]))
        values: dict[str, pa.Array | str] = {
            "date": day,
            "time": clock_times(moment, fraction=False),
            "x-edge-location": self.edges.take(pa.array(edge.astype(np.int64))),
            "sc-bytes": numbers(body_bytes + headers),
            "c-ip": self.client_ip.take(pa.array(client.astype(np.int64))),
            "cs-method": method,
            "cs(Host)": CDN_HOST,
            "cs-uri-stem": stem,
            "sc-status": "200",
            "cs(Referer)": "-",
            "cs(User-Agent)": self.cdn_agent.take(pa.array(user_agent.astype(np.int64))),
            "cs-uri-query": "-",
            "cs(Cookie)": "-",
            "x-edge-result-type": result,
            "x-edge-request-id": cf_id,
            "x-host-header": SERVICE_HOST,
            "cs-protocol": "http",
            "cs-bytes": numbers(request_bytes),
            "time-taken": millis(taken_ms),
            "x-forwarded-for": "-",
            "ssl-protocol": "-",
            "ssl-cipher": "-",
            "x-edge-response-result-type": result,
            "cs-protocol-version": "HTTP/1.1",
            "fle-status": "-",
            "fle-encrypted-fields": "-",
            "c-port": numbers(port),
            "time-to-first-byte": millis(np.maximum(taken_ms - 1, 0)),
            "x-edge-detailed-result-type": result,
            "sc-content-type": content_type,
            "sc-content-len": numbers(body_bytes),
            "sc-range-start": "-",
            "sc-range-end": "-\n",  # the last field ends the line
        }
        return pc.binary_join_element_wise(*[values[name] for name in STANDARD_FIELDS], "\t")

    def _cdn_ocsp(self, hour: OcspHour, rows: np.ndarray) -> pa.Array:
        entry = pa.array(hour.requests.entry[rows])
        get = hour.method[rows] == Method.GET
        escaped = pa.array(hour.style[rows] == Style.ESCAPED)
        stem = pc.if_else(
            pa.array(get),
            pc.if_else(
                escaped, self.paths.stem_escaped.take(entry), self.paths.stem_raw.take(entry)
            ),
            "/ocsp",
        )
        sizes = self.paths.der_length[hour.requests.entry[rows]]
        return self._cdn_line(
            moment=hour.requests.moment[rows],
            edge=hour.edge[rows],
            client=hour.requests.client[rows],
            user_agent=hour.user_agent[rows],
            method=pc.if_else(pa.array(get), "GET", "POST"),
            stem=stem,
            body_bytes=hour.response_bytes[rows],
            headers=OCSP_HEADERS,
            hit=hour.cdn_hit[rows],
            cf_id=fixed_width(hour.cf_id.of(rows)),
            request_bytes=np.where(get, 180 + sizes * 4 // 3, 230 + hour.request_bytes[rows]),
            taken_ms=hour.cdn_taken_ms[rows],
            port=hour.port[rows],
            content_type="application/ocsp-response",
        )

    def _cdn_crl(self, hour: CrlHour, rows: np.ndarray) -> pa.Array:
        return self._cdn_line(
            moment=hour.moment[rows],
            edge=hour.edge[rows],
            client=hour.client[rows],
            user_agent=hour.user_agent[rows],
            method="GET",
            stem=self.crl_path.take(pa.array(hour.crl[rows].astype(np.int64))),
            body_bytes=hour.response_bytes[rows],
            headers=CRL_HEADERS,
            hit=hour.cdn_hit[rows],
            cf_id=fixed_width(hour.cf_id.of(rows)),
            request_bytes=np.full(len(rows), 190),
            taken_ms=hour.cdn_taken_ms[rows],
            port=hour.port[rows],
            content_type="application/pkix-crl",
        )

    def _cdn_files(self, hour: DownloadHour) -> pa.Array:
        artifact = pa.array(hour.artifact.astype(np.int64))
        return self._cdn_line(
            moment=hour.moment,
            edge=hour.edge,
            client=hour.client,
            user_agent=hour.user_agent,
            method="GET",
            stem=self.file_path.take(artifact),
            body_bytes=self.file_size[hour.artifact],
            headers=FILE_HEADERS,
            hit=hour.cdn_hit,
            cf_id=fixed_width(hour.cf_id.matrix),
            request_bytes=np.full(len(hour), 210),
            taken_ms=hour.cdn_taken_ms,
            port=hour.port,
            content_type=self.file_type.take(artifact),
        )

    def _common_json(
        self,
        kind: str,
        moment: np.ndarray,
        request_id: pa.Array,
        cf_id: pa.Array,
        via_cdn: np.ndarray,
        client: np.ndarray,
        user_agent: np.ndarray,
        method: pa.Array | str,
        path: pa.Array,
    ) -> list[pa.Array | str]:
        quoted_cf = pc.if_else(
            pa.array(via_cdn), pc.binary_join_element_wise('"', cf_id, '"', ""), "null"
        )
        return [
            f'{{"log":"{kind}","event_time":"',
            iso_times(moment),
            '","request_id":"',
            request_id,
            '","cf_request_id":',
            quoted_cf,
            ',"source":"lambda","adapter":"lambda","client_ip":"',
            self.client_ip.take(pa.array(client.astype(np.int64))),
            '","user_agent":',
            self.json_agent.take(pa.array(user_agent.astype(np.int64))),
            ',"http_method":"',
            method,
            '","path":"',
            path,
            '","http_status":200,',
        ]

    def _ocsp_records(self, hour: OcspHour, rows: np.ndarray) -> pa.Array:
        entry = pa.array(hour.requests.entry[rows])
        get = hour.method[rows] == Method.GET
        escaped = pa.array(hour.style[rows] == Style.ESCAPED)
        path = pc.if_else(
            pa.array(get),
            pc.if_else(
                escaped, self.paths.sent_escaped.take(entry), self.paths.sent_raw.take(entry)
            ),
            "/ocsp",
        )
        status = hour.cert_status[rows]
        cert_status = pa.array(["null", *[f'"{s}"' for s in CERT_STATUSES]]).take(
            pa.array(status.astype(np.int64) + 1)
        )
        unauthorized = hour.response_status[rows] == 1
        flags = pa.array(["false", "true"])
        parts = self._common_json(
            "ocsp",
            hour.requests.moment[rows],
            fixed_width(hour.request_id.of(rows)),
            fixed_width(hour.cf_id.of(rows)),
            hour.via_cdn[rows],
            hour.requests.client[rows],
            hour.user_agent[rows],
            pc.if_else(pa.array(get), "GET", "POST"),
            path,
        )
        parts += [
            '"request_bytes":',
            numbers(hour.request_bytes[rows]),
            ',"response_bytes":',
            numbers(hour.response_bytes[rows]),
            ',"latency_ms":',
            millis(hour.origin_latency_us[rows]),
            ',"response_status":"',
            pa.array(list(RESPONSE_STATUSES)).take(
                pa.array(hour.response_status[rows].astype(np.int64))
            ),
            '","nonce":',
            flags.take(pa.array(hour.nonce[rows].astype(np.int64))),
            ',"cache_hit":',
            flags.take(pa.array(hour.origin_cache_hit[rows].astype(np.int64))),
            ',"cert_ids":[{',
            self.cert_id_json.take(entry),
            ',"cert_status":',
            cert_status,
            '}],"error":',
            pc.if_else(pa.array(unauthorized), f'"{NOT_SERVED}"', "null"),
            "}\n",
        ]
        return pc.binary_join_element_wise(*parts, "")

    def _crl_records(self, hour: CrlHour, rows: np.ndarray) -> pa.Array:
        crl = pa.array(hour.crl[rows].astype(np.int64))
        parts = self._common_json(
            "crl",
            hour.moment[rows],
            fixed_width(hour.request_id.of(rows)),
            fixed_width(hour.cf_id.of(rows)),
            hour.via_cdn[rows],
            hour.client[rows],
            hour.user_agent[rows],
            "GET",
            self.crl_path.take(crl),
        )
        parts += [
            '"request_bytes":0,"response_bytes":',
            numbers(hour.response_bytes[rows]),
            ',"latency_ms":',
            millis(hour.origin_latency_us[rows]),
            ',"object":"crl",',
            self.crl_json.take(crl),
            ',"crl_number":',
            numbers(hour.crl_number[rows]),
            ",",
            self.crl_issuer_json.take(crl),
            ',"not_modified":false}\n',
        ]
        return pc.binary_join_element_wise(*parts, "")
