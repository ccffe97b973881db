"""A request seen by the CDN and by the responder is one request: the CDN row gains
what the responder knew (status, issuer, latency), whichever run read the responder's log."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import orjson

from ingest.lake import Lake
from ingest.run import ingest
from ingest.sources import find_sources
from responders.web.exchange import HttpRequest
from responders.web.runtime import RuntimeConfig, build_runtime
from tests.conftest import PkiHome
from tests.ingest.conftest import write_jsonl
from tests.ingest.test_cloudfront import FIELDS_33, cloudfront_stem, line, write_log
from tests.responders.test_ocsp_core import load, request_der


def now() -> datetime:
    return datetime.now(UTC)


def responder_log(home: PkiHome, path: Path) -> dict[str, bytes]:
    """The responder answers two GETs that came through CloudFront; returns their DER."""
    runtime = build_runtime(
        RuntimeConfig(
            pki_dir=str(home.home.pki.root), raw_dir=None, store_uri=str(home.home.pki.store)
        ),
        adapter="http",
    )
    issuer = load(home.home.pki.issuing_cert)
    requests = {
        "edge-good==": request_der(load(home.good), issuer),
        "edge-revoked==": request_der(load(home.revoked), issuer),
    }
    records = []
    for edge_id, der in requests.items():
        encoded = base64.b64encode(der).decode()
        exchange = runtime.service.handle(
            HttpRequest("GET", f"/ocsp/{encoded}", {"x-amz-cf-id": edge_id}, b"", "192.0.2.7")
        )
        assert exchange.record is not None
        records.append(orjson.dumps(exchange.record))
    write_jsonl(path, records)
    return requests


def cdn_log(path: Path, requests: dict[str, bytes]) -> None:
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        line(
            FIELDS_33,
            date=today,
            **{
                "cs-uri-stem": cloudfront_stem(der, "windows"),
                "x-edge-request-id": edge_id,
                "x-edge-result-type": "Miss",
            },
        )
        for edge_id, der in requests.items()
    ]
    lines.append(
        line(
            FIELDS_33,
            date=today,
            **{
                "cs-uri-stem": cloudfront_stem(requests["edge-good=="], "java"),
                "x-edge-request-id": "edge-cached==",
                "x-edge-result-type": "Hit",
            },
        )
    )
    write_log(path, FIELDS_33, lines)


def cdn_rows(lake: Lake) -> dict[str, dict[str, object]]:
    rows = lake.read("ocsp_requests").to_pylist()
    return {str(r["cf_request_id"]): r for r in rows if r["source"] == "cloudfront"}


def test_cdn_rows_gain_the_responder_view_across_runs(pki_home: PkiHome, tmp_path: Path) -> None:
    lake = Lake.at(str(tmp_path / "lake"))
    requests = responder_log(pki_home, tmp_path / "raw" / "a-responder.jsonl.gz")
    ingest(find_sources([str(tmp_path / "raw")]), lake, now)
    cdn_log(tmp_path / "raw" / "b-cdn.log.gz", requests)
    ingest(find_sources([str(tmp_path / "raw")]), lake, now)
    rows = cdn_rows(lake)
    good, revoked, cached = rows["edge-good=="], rows["edge-revoked=="], rows["edge-cached=="]
    assert (good["cert_status"], good["response_status"]) == ("good", "successful")
    assert revoked["cert_status"] == "revoked"
    assert (
        good["issuer_key_sha1"]
        == pki_home.store().find_serial(pki_home.good_serial)[0].issuer_key_sha1
    )
    assert isinstance(good["origin_latency_ms"], float) and good["origin_latency_ms"] >= 0
    assert good["latency_ms"] == 2.0  # the CDN's own time stays
    assert cached["cert_status"] is None and cached["origin_latency_ms"] is None


def test_the_join_also_works_within_one_run(pki_home: PkiHome, tmp_path: Path) -> None:
    lake = Lake.at(str(tmp_path / "lake"))
    requests = responder_log(pki_home, tmp_path / "raw" / "a-responder.jsonl.gz")
    cdn_log(tmp_path / "raw" / "b-cdn.log.gz", requests)
    report = ingest(find_sources([str(tmp_path / "raw")]), lake, now)
    assert len(report.runs) == 1
    rows = cdn_rows(lake)
    assert rows["edge-revoked=="]["cert_status"] == "revoked"
    assert rows["edge-good=="]["response_status"] == "successful"
    # The responder's rows stay as they were written.
    origin = [r for r in lake.read("ocsp_requests").to_pylist() if r["source"] == "lambda"]
    assert {r["cf_request_id"] for r in origin} == {"edge-good==", "edge-revoked=="}
