"""CloudFront standard logs of every era, with real-world OCSP requests in their GET paths."""

from __future__ import annotations

import base64
import gzip
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import cryptography_vectors
import pytest

from ingest.formats.cloudfront import STANDARD_FIELDS, StemTable
from ingest.lake import Lake
from ingest.run import ingest, read_object
from ingest.sources import find_sources

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
VECTORS = Path(os.path.dirname(cryptography_vectors.__file__)) / "x509" / "ocsp"

# The field lists of AWS's documentation, oldest to newest.
FIELDS_33 = list(STANDARD_FIELDS)
ERAS = {24: FIELDS_33[:24], 26: FIELDS_33[:26], 33: FIELDS_33}


def vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def cloudfront_stem(der: bytes, client: str) -> str:
    """The cs-uri-stem CloudFront logs for a GET of this request, as the client sent it."""
    text = base64.b64encode(der).decode()
    if client == "java":  # percent-encodes / + =, then CloudFront encodes the %
        sent = text.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
    else:  # Windows CryptoAPI: raw base64
        sent = text
    return "/ocsp/" + quote(sent, safe="/+=")


def line(fields: list[str], **values: str) -> str:
    defaults = {
        "date": "2026-11-27",
        "time": "23:59:58",
        "x-edge-location": "FRA56-P1",
        "sc-bytes": "1520",
        "c-ip": "198.51.100.7",
        "cs-method": "GET",
        "cs(Host)": "d111111abcdef8.cloudfront.net",
        "cs-uri-stem": "/",
        "sc-status": "200",
        "cs(Referer)": "-",
        "cs(User-Agent)": "Microsoft-CryptoAPI/10.0",
        "cs-uri-query": "-",
        "cs(Cookie)": "-",
        "x-edge-result-type": "Hit",
        "x-edge-request-id": "EXAMPLE2WwWYQ5Tgw2Lm0XoN1a4kQf1Y2d1cA==",
        "x-host-header": "ocsp.example.com",
        "cs-protocol": "http",
        "cs-bytes": "120",
        "time-taken": "0.002",
        "x-forwarded-for": "-",
        "ssl-protocol": "-",
        "ssl-cipher": "-",
        "x-edge-response-result-type": "Hit",
        "cs-protocol-version": "HTTP/1.1",
        "fle-status": "-",
        "fle-encrypted-fields": "-",
        "c-port": "50432",
        "time-to-first-byte": "0.001",
        "x-edge-detailed-result-type": "Hit",
        "sc-content-type": "application/ocsp-response",
        "sc-content-len": "1520",
        "sc-range-start": "-",
        "sc-range-end": "-",
    }
    defaults.update({k.replace("_", "-"): v for k, v in values.items()})
    return "\t".join(defaults[name] for name in fields)


def write_log(path: Path, fields: list[str], lines: list[str], *, compress: bool = True) -> Path:
    text = "#Version: 1.0\n#Fields: " + " ".join(fields) + "\n" + "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


@pytest.mark.parametrize("era", sorted(ERAS))
def test_every_era_maps_columns_by_header(tmp_path: Path, era: int) -> None:
    fields = ERAS[era]
    lines = [
        line(fields, **{"cs-uri-stem": cloudfront_stem(vector("req-sha1.der"), "windows")}),
        line(
            fields,
            **{
                "cs-uri-stem": cloudfront_stem(vector("req-multi-sha1.der"), "java"),
                "cs(User-Agent)": "Java/17.0.15",
                "x-edge-result-type": "Miss",
                "x-edge-request-id": "second==",
            },
        ),
        line(fields, **{"cs-uri-stem": "/ocsp", "cs-method": "POST"}),
        line(fields, **{"cs-uri-stem": "/crl/issuing-ca.crl", "sc-bytes": "4096"}),
        line(
            fields,
            **{
                "cs-uri-stem": "/agent/stable/certsight-agent-1.4.2.msi",
                "cs(User-Agent)": "Mozilla/5.0%20(Windows%20NT%2010.0)",
            },
        ),
    ]
    path = write_log(tmp_path / f"E2EXAMPLE.{era}.gz", fields, lines)
    report, rows = read_object(find_sources([str(path)])[0], NOW)
    assert report.format == "cloudfront"
    assert (report.records_read, report.records_written, report.quarantined) == (5, 5, 0)
    ocsp = rows.all_rows("ocsp_requests")
    assert [r["serial"] for r in ocsp] == [
        "98d9e5c0b4c373552df77c5d0f1eb5128e4945f9",
        "98d9e5c0b4c373552df77c5d0f1eb5128e4945f9",
        "98d9e5c0b4c373552df77c5d0f1eb5128e4945f0",
        None,
    ]
    assert ocsp[0]["issuer_key_hash"] == "7975bb843acb2cde7a09be311b43bc1c2a4d5358"
    assert ocsp[0]["cache_hit"] is True and ocsp[1]["cache_hit"] is False
    assert ocsp[1]["user_agent"] == "Java/17.0.15" and ocsp[1]["request_id"] == "second=="
    assert ocsp[1]["cf_request_id"] == "second=="
    assert ocsp[3]["http_method"] == "POST" and ocsp[3]["response_status"] is None
    assert all(r["source"] == "cloudfront" for r in ocsp)
    assert ocsp[0]["event_time"] == datetime(2026, 11, 27, 23, 59, 58, tzinfo=UTC)
    assert ocsp[0]["latency_ms"] == pytest.approx(2.0)
    [crl] = rows.all_rows("crl_fetches")
    assert crl["crl_name"] == "issuing-ca" and crl["bytes"] == 4096
    [agent] = rows.all_rows("artifact_downloads")
    assert (agent["kind"], agent["channel"], agent["name"], agent["version"]) == (
        "agent",
        "stable",
        "certsight-agent-1.4.2.msi",
        "1.4.2",
    )
    assert agent["user_agent"] == "Mozilla/5.0 (Windows NT 10.0)"


def test_nonce_and_plus_signs_survive_decoding(tmp_path: Path) -> None:
    der = vector("req-ext-nonce.der")
    text = base64.b64encode(der).decode()
    stems = [
        cloudfront_stem(der, "java"),
        cloudfront_stem(der, "windows"),
        "/ocsp/" + text.replace("+", "%2B"),
    ]
    lines = [line(FIELDS_33, **{"cs-uri-stem": stem}) for stem in stems]
    path = write_log(tmp_path / "n.gz", FIELDS_33, lines)
    _, rows = read_object(find_sources([str(path)])[0], NOW)
    assert [r["nonce"] for r in rows.all_rows("ocsp_requests")] == [True, True, True]
    assert len({r["serial"] for r in rows.all_rows("ocsp_requests")}) == 1


def test_bad_lines_are_quarantined_and_the_rest_read(tmp_path: Path) -> None:
    good = line(FIELDS_33, **{"cs-uri-stem": cloudfront_stem(vector("req-sha1.der"), "java")})
    bad = [
        ("\t".join(good.split("\t")[:20]), "20 fields where the #Fields header names 33"),
        (line(FIELDS_33, **{"cs-uri-stem": "/ocsp/!!!!"}), "GET path is not base64"),
        (
            line(FIELDS_33, **{"cs-uri-stem": "/ocsp/" + base64.b64encode(b"hello").decode()}),
            "DER is not an OCSPRequest",
        ),
        (
            line(
                FIELDS_33,
                **{"cs-uri-stem": cloudfront_stem(vector("req-invalid-hash-alg.der"), "java")},
            ),
            "unknown CertID hash algorithm",
        ),
        (line(FIELDS_33, date="28/11/2026"), "date/time not understood"),
        (line(FIELDS_33, **{"sc-bytes": "lots"}), "sc-bytes is not a number"),
    ]
    path = write_log(
        tmp_path / "bad.log", FIELDS_33, [good, *[b for b, _ in bad], good], compress=False
    )
    report, rows = read_object(find_sources([str(path)])[0], NOW)
    assert (report.records_read, report.records_written, report.quarantined) == (8, 2, 6)
    for row, (_, reason) in zip(rows.quarantined, bad, strict=True):
        assert reason in row["reason"], row["reason"]
    assert [q["line"] for q in rows.quarantined] == [4, 5, 6, 7, 8, 9]


def test_lines_before_a_header_and_repeated_headers(tmp_path: Path) -> None:
    stem = cloudfront_stem(vector("req-sha1.der"), "windows")
    text = (
        line(FIELDS_33, **{"cs-uri-stem": stem})
        + "\n#Version: 1.0\n#Fields: "
        + " ".join(ERAS[24])
        + "\n"
        + line(ERAS[24], **{"cs-uri-stem": stem})
        + "\n"
    )
    path = tmp_path / "concatenated.log"
    path.write_text("#Version: 1.0\n" + text)
    # The first data line comes before any #Fields: it is quarantined, the rest is read.
    report, rows = read_object(find_sources([str(path)])[0], NOW)
    assert (report.records_read, report.records_written, report.quarantined) == (2, 1, 1)
    assert "before any #Fields" in rows.quarantined[0]["reason"]


def test_each_distinct_request_is_decoded_once_per_run(tmp_path: Path) -> None:
    stem = cloudfront_stem(vector("req-sha1.der"), "java")
    for index in range(3):
        write_log(
            tmp_path / "raw" / f"{index}.gz",
            FIELDS_33,
            [
                line(FIELDS_33, **{"cs-uri-stem": stem, "x-edge-request-id": f"{index}-{n}"})
                for n in range(50)
            ],
        )
    cache = StemTable()
    for source in find_sources([str(tmp_path / "raw")]):
        read_object(source, NOW, cache)
    assert len(cache) == 1
    lake = Lake.at(str(tmp_path / "lake"))
    ingest(find_sources([str(tmp_path / "raw")]), lake, lambda: NOW)
    assert lake.read("ocsp_requests").num_rows == 150


def test_fast_percent_decoding_matches_the_standard_library() -> None:
    import random
    from urllib.parse import unquote

    from ingest.formats.ocsp_der import unquote_once

    rng = random.Random(5)
    pieces = [
        "%2F",
        "%2B",
        "%3D",
        "%25",
        "%2f",
        "%3d",
        "A",
        "b",
        "/",
        "+",
        "=",
        "-",
        "%",
        "%20",
        "%E2%82%AC",
        "%zz",
    ]
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(12)))
        assert unquote_once(text, errors="replace") == unquote(text), text
    assert unquote_once("a+b%2Bc") == "a+b+c"  # never + as space
    assert unquote_once("%252F") == "%2F"  # exactly once


def test_truncated_gzip_keeps_every_line_before_the_cut(tmp_path: Path) -> None:
    stem = cloudfront_stem(vector("req-sha1.der"), "java")
    lines = [
        line(FIELDS_33, **{"cs-uri-stem": stem, "x-edge-request-id": f"id{n:06d}"})
        for n in range(20_000)
    ]
    full = write_log(tmp_path / "full.gz", FIELDS_33, lines)
    data = full.read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    report, rows = read_object(find_sources([str(cut)])[0], NOW)
    assert report.records_written > 1000
    assert report.records_read == report.records_written + report.quarantined
    assert "truncated or corrupt gzip" in rows.quarantined[-1]["reason"]
    delivered = rows.all_rows("ocsp_requests")
    assert [r["request_id"] for r in delivered] == [f"id{n:06d}" for n in range(len(delivered))]
    assert [r["source_line"] for r in delivered] == list(range(3, 3 + len(delivered)))
