"""A LAKE written row by row, for warehouse tests that need exact, hand-made traffic.

Rows follow ingest/schema.py (the contract), so the warehouse reads them exactly as it reads
what the ingest writes; columns a test does not name are null.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ingest.schema import TABLES

_files = itertools.count()


def _hex(text: str, size: int = 20) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[: size * 2]


@dataclass(frozen=True)
class Issuer:
    name: str
    key_sha1: str
    name_sha1: str
    name_sha256: str
    key_sha256: str

    @classmethod
    def make(cls, name: str) -> Issuer:
        return cls(
            name,
            _hex("key1" + name),
            _hex("name1" + name),
            _hex("name256" + name, 32),
            _hex("key256" + name, 32),
        )


class LakeWriter:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.request_ids = itertools.count(1)

    def issuer(self, issuer: Issuer, at: datetime) -> None:
        self.rows["issuers"].append(
            {
                "issuer_key_sha1": issuer.key_sha1,
                "subject": f"CN={issuer.name},O=Test",
                "name_sha1": issuer.name_sha1,
                "name_sha256": issuer.name_sha256,
                "key_sha256": issuer.key_sha256,
                "not_before": at - timedelta(days=400),
                "not_after": at + timedelta(days=3000),
                "self_signed": False,
                "source": "pem",
                "source_object": "fixture",
            }
        )

    def certificate(
        self,
        issuer: Issuer,
        serial: str,
        host: str,
        not_before: datetime,
        days: int = 47,
        *,
        sans: list[str] | None = None,
        requester: str = "acme:fixture",
        profile: str = "tls-server",
    ) -> None:
        self.rows["certificates"].append(
            {
                "issuer_key_sha1": issuer.key_sha1,
                "serial": serial,
                "subject": f"CN={host}",
                "sans": sans if sans is not None else [host],
                "not_before": not_before,
                "not_after": not_before + timedelta(days=days),
                "key_algorithm": "ec-p256",
                "profile": profile,
                "requester": requester,
                "ca_backend": "internal",
                "issued_at": not_before,
                "source": "certsight",
                "source_object": "fixture",
            }
        )

    def revocation(self, issuer: Issuer, serial: str, at: datetime, reason: str) -> None:
        self.rows["revocations"].append(
            {
                "issuer_key_sha1": issuer.key_sha1,
                "serial": serial,
                "revoked_at": at,
                "revocation_reason": reason,
                "source": "crl",
                "source_object": "fixture",
            }
        )

    def request(
        self,
        at: datetime,
        client_ip: str,
        issuer: Issuer | None,
        serial: str | None,
        *,
        source: str = "cloudfront",
        hash_algorithm: str = "sha1",
        cf_request_id: str | None = None,
        cache_hit: bool = True,
        user_agent: str = "Microsoft-CryptoAPI/10.0",
        method: str = "GET",
        issuer_key_hash: str | None = None,
        cert_status: str | None = None,
    ) -> str:
        number = next(self.request_ids)
        key_hash = issuer_key_hash
        name_hash = None
        if issuer is not None:
            key_hash = issuer.key_sha1 if hash_algorithm == "sha1" else issuer.key_sha256
            name_hash = issuer.name_sha1 if hash_algorithm == "sha1" else issuer.name_sha256
        cf_id = cf_request_id or (f"cf-{number}" if source == "cloudfront" else None)
        self.rows["ocsp_requests"].append(
            {
                "event_time": at,
                "request_id": f"r-{number}",
                "cf_request_id": cf_id,
                "client_ip": client_ip,
                "user_agent": user_agent,
                "http_method": method,
                "http_status": 200,
                "response_status": "successful" if source == "lambda" else None,
                "cert_status": cert_status,
                "hash_algorithm": hash_algorithm if serial else None,
                "issuer_name_hash": name_hash if serial else None,
                "issuer_key_hash": key_hash if serial else None,
                "serial": serial,
                "nonce": False,
                "cache_hit": cache_hit if source == "cloudfront" else False,
                "latency_ms": 2.0,
                "response_bytes": 500,
                "source": source,
                "source_object": "fixture",
            }
        )
        return cf_id or f"r-{number}"

    def crl_fetch(self, at: datetime, client_ip: str, crl_name: str, status: int = 200) -> None:
        self.rows["crl_fetches"].append(
            {
                "event_time": at,
                "client_ip": client_ip,
                "user_agent": "Microsoft-CryptoAPI/10.0",
                "http_method": "GET",
                "http_status": status,
                "path": f"/crl/{crl_name}.crl",
                "crl_name": crl_name,
                "bytes": 900,
                "cache_hit": False,
                "source": "cloudfront",
                "source_object": "fixture",
            }
        )

    def download(
        self, at: datetime, client_ip: str, kind: str, name: str, version: str | None
    ) -> None:
        self.rows["artifact_downloads"].append(
            {
                "event_time": at,
                "client_ip": client_ip,
                "user_agent": "certsight-agent/1.4.2",
                "http_method": "GET",
                "http_status": 200,
                "path": f"/{kind}/{name}",
                "kind": kind,
                "name": name,
                "version": version,
                "bytes": 12000,
                "source": "cloudfront",
                "source_object": "fixture",
            }
        )

    def flush(self) -> None:
        """Write what was added since the last flush as new files, one per table and day."""
        for name, rows in self.rows.items():
            table = TABLES[name]
            by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                by_day[row[table.time_column].date().isoformat()].append(row)
            for day, day_rows in by_day.items():
                columns = {c: [r.get(c) for r in day_rows] for c in table.names}
                data = pa.Table.from_pydict(columns, schema=table.schema)
                folder = self.root / name / f"dt={day}"
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(data, folder / f"part-{next(_files):06d}.parquet")
        self.rows.clear()
