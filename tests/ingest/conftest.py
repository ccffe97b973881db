"""RAW objects made the way production makes them: real responder records and events."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from responders.web.exchange import HttpRequest
from responders.web.runtime import RuntimeConfig, build_runtime
from tests.conftest import PkiHome
from tests.responders.test_ocsp_core import cert_id, load, multi_request


def responder_records(home: PkiHome) -> list[dict[str, Any]]:
    """Records of every shape the responders write, produced by the real HTTP layer."""
    runtime = build_runtime(
        RuntimeConfig(
            pki_dir=str(home.home.pki.root), raw_dir=None, store_uri=str(home.home.pki.store)
        ),
        adapter="http",
    )
    issuer = load(home.home.pki.issuing_cert)
    multi = multi_request(
        [cert_id(load(home.good), issuer), cert_id(load(home.revoked), issuer, "sha256")]
    )
    requests = [
        HttpRequest("POST", "/ocsp", {"user-agent": "openssl"}, multi, "192.0.2.1"),
        HttpRequest("POST", "/ocsp", {}, b"garbage", "192.0.2.2"),
        HttpRequest("GET", "/crl/issuing-ca.crl", {"x-amz-cf-id": "cf1=="}, b"", "192.0.2.3"),
        HttpRequest("GET", "/ca/root-ca.crt", {}, b"", "192.0.2.4"),
        HttpRequest("GET", "/wp-admin", {}, b"", "192.0.2.5"),
    ]
    records = []
    for request in requests:
        exchange = runtime.service.handle(request)
        assert exchange.record is not None
        records.append(orjson.loads(orjson.dumps(exchange.record)))
    return records


def issuance_records(home: PkiHome) -> list[dict[str, Any]]:
    records = []
    for path in sorted((home.home.raw / "issuance").rglob("*.jsonl.gz")):
        records += [orjson.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    return records


def write_jsonl(path: Path, lines: list[bytes], *, compress: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def as_lines(records: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(r) for r in records]


@pytest.fixture
def fixed_now() -> datetime:
    return datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
