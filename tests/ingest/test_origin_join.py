"""A request seen by the CDN and by the responder is one request: the CDN row gains
what the responder knew (status, issuer, latency), whichever run read the responder's log."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

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


DAYS = ["2026-11-20", "2026-11-21", "2026-11-22"]
HOURS = range(0, 24, 3)


def responder_records_like(
    template: dict[str, object], ids: dict[str, str], latency: float = 0.5
) -> list[bytes]:
    """The template's record again, for other requests: cf_request_id -> ISO event time;
    the n-th has latency_ms n + ``latency``."""
    return [
        orjson.dumps(
            {**template, "cf_request_id": cf_id, "event_time": at, "latency_ms": n + latency}
        )
        for n, (cf_id, at) in enumerate(ids.items())
    ]


@pytest.mark.parametrize("stage_rows", [7, 200_000])
def test_many_objects_join_the_lake_and_only_responder_logs_read_before_them(
    pki_home: PkiHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage_rows: int
) -> None:
    """The production shape: an hourly CDN log per hour, the responder's logs of the same
    requests committed by an earlier run, more of them in the same run. CDN rows are joined
    when they are staged: every few rows (many joins), or all at the end (one join, after
    the run has read the responder's log that only some of them came after)."""
    monkeypatch.setattr("ingest.run.MAX_BUFFERED_ROWS", stage_rows)
    lake = Lake.at(str(tmp_path / "lake"))
    requests = responder_log(pki_home, tmp_path / "template.jsonl.gz")
    [template] = [
        orjson.loads(line)
        for line in gzip.decompress((tmp_path / "template.jsonl.gz").read_bytes()).splitlines()
        if b"edge-good==" in line
    ]
    stem = cloudfront_stem(requests["edge-good=="], "windows")
    hours = [(day, hour) for day in DAYS for hour in HOURS]

    # Run 1: the responder's logs of the "early" requests, and of one ten days before.
    early = {f"early-{d}-{h}": f"{d}T{h:02d}:30:00Z" for d, h in hours}
    early["far-away"] = "2026-11-12T10:00:00Z"
    write_jsonl(tmp_path / "run1" / "responder.jsonl.gz", responder_records_like(template, early))
    ingest(find_sources([str(tmp_path / "run1")]), lake, now)

    # Run 2: CDN logs in two groups, and between them (by name) the responder's log of the
    # "late" requests, which logs the early ones again: only the second group was read
    # after it, and the run's own record of a request comes before the LAKE's.
    late = {f"late-{d}-{h}": f"{d}T{h:02d}:30:01Z" for d, h in hours}
    for number, (day, hour) in enumerate(hours):
        group = "b-cdn" if number % 2 == 0 else "d-cdn"
        ids = [f"early-{day}-{hour}", f"late-{day}-{hour}", f"cached-{day}-{hour}"]
        if (day, hour) == hours[-1]:
            ids.append("far-away")
        write_log(
            tmp_path / "run2" / group / f"{day}-{hour:02d}.log.gz",
            FIELDS_33,
            [
                line(
                    FIELDS_33,
                    date=day,
                    time=f"{hour:02d}:30:02",
                    **{"cs-uri-stem": stem, "x-edge-request-id": cf_id},
                )
                for cf_id in ids
            ],
        )
    write_jsonl(
        tmp_path / "run2" / "c-responder.jsonl.gz",
        responder_records_like(template, late)
        + responder_records_like(
            template, {k: v for k, v in early.items() if k != "far-away"}, 1000.5
        ),
    )
    report = ingest(find_sources([str(tmp_path / "run2")]), lake, now)
    assert len(report.runs) == 1 and len(report.sources) == len(hours) + 1

    rows = cdn_rows(lake)
    assert len(rows) == 3 * len(hours) + 1
    for n, cf_id in enumerate(early):
        if cf_id != "far-away":
            read_after = "/d-cdn/" in str(rows[cf_id]["source_object"])
            assert (rows[cf_id]["cert_status"], rows[cf_id]["origin_latency_ms"]) == (
                "good",
                n + (1000.5 if read_after else 0.5),
            ), cf_id
    assert rows["far-away"]["cert_status"] is None  # committed, but not on the days around
    for n, (day, hour) in enumerate(hours):
        cdn = rows[f"late-{day}-{hour}"]
        read_after = "/d-cdn/" in str(cdn["source_object"])
        assert (cdn["cert_status"], cdn["origin_latency_ms"]) == (
            ("good", n + 0.5) if read_after else (None, None)
        ), cdn["source_object"]
        assert rows[f"cached-{day}-{hour}"]["cert_status"] is None
    assert {r["response_status"] for r in rows.values() if r["cert_status"]} == {"successful"}
    assert {r["issuer_key_sha1"] for r in rows.values() if r["cert_status"]} == {
        template["cert_ids"][0]["issuer_key_sha1"]
    }
