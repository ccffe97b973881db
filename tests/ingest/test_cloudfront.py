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

from ingest.formats.cloudfront import STANDARD_FIELDS, StemTable, read_cloudfront_together
from ingest.lake import Lake
from ingest.reader import sniff
from ingest.rows import ObjectRows
from ingest.run import ingest, read_object
from ingest.schema import TABLES
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


@pytest.fixture(params=["read ahead", "one thread"])
def read_ahead(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways of reading CSV blocks: ahead on a second thread (large objects) and on
    the reading thread (small ones, such as hourly logs)."""
    limit = 0 if request.param == "read ahead" else 1 << 60
    monkeypatch.setattr("ingest.formats.cloudfront.reading.SMALL_OBJECT", limit)


@pytest.mark.parametrize("era", sorted(ERAS))
@pytest.mark.usefixtures("read_ahead")
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


@pytest.mark.usefixtures("read_ahead")
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

    from pki.ocsp_getpath import unquote_once

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


@pytest.mark.usefixtures("read_ahead")
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


def small_logs(raw: Path) -> None:
    """Small logs of every kind, in the order a listing gives them: clean ones of two
    eras (read together), and ones that must be read alone, between them."""
    stems = {
        "GET": cloudfront_stem(vector("req-sha1.der"), "java"),
        "multi": cloudfront_stem(vector("req-multi-sha1.der"), "windows"),
    }
    requests = [
        ("GET", stems["GET"]),
        ("GET", stems["multi"]),
        ("POST", "/ocsp"),
        ("GET", "/crl/issuing-ca.crl"),
        ("GET", "/truststore/stable/2026.11/bundle.pem"),
        ("GET", "/wp-login.php"),
        ("HEAD", stems["GET"]),
    ]

    def log(index: int, fields: list[str]) -> list[str]:
        return [
            line(
                fields,
                time=f"10:{index:02d}:{n // 3:02d}",  # three lines a second: ties in time
                **{
                    "cs-method": method,
                    "cs-uri-stem": stem,
                    "x-edge-request-id": f"{index}-{n}",
                    "x-edge-result-type": "Miss" if n % 2 else "Hit",
                },
            )
            for n, (method, stem) in enumerate(requests * 3)
        ]

    for index in range(4):
        write_log(raw / f"a{index}.gz", FIELDS_33, log(index, FIELDS_33))
    write_log(raw / "b-era24.gz", ERAS[24], log(10, ERAS[24]))
    # Lines only the exact reader takes: a bad time, a blank line (after the header).
    write_log(raw / "c-bad.gz", ERAS[24], [*log(11, ERAS[24]), line(ERAS[24], time="25:00")])
    write_log(raw / "d-header-only.gz", FIELDS_33, [])
    (raw / "e-notes.txt").write_bytes(b"\x00 not a log")
    text = "\n".join(log(12, FIELDS_33)) + "\n#Fields: " + " ".join(ERAS[24]) + "\n"
    write_log(raw / "f-repeated-header.log", FIELDS_33, [text + "\n".join(log(13, ERAS[24]))])
    full = write_log(raw / "g-cut.gz", FIELDS_33, log(14, FIELDS_33) * 40).read_bytes()
    (raw / "g-cut.gz").write_bytes(full[: len(full) // 2])
    write_log(raw / "h-plain.log", FIELDS_33, log(15, FIELDS_33), compress=False)
    for index in range(16, 19):
        write_log(raw / f"i{index}.gz", FIELDS_33, log(index, FIELDS_33))


def lake_rows(lake: Lake) -> dict[str, list[dict[str, object]]]:
    return {table: lake.read(table).to_pylist() for table in TABLES}


@pytest.mark.parametrize("vanished", [None, "a2.gz"])
def test_small_logs_read_together_give_what_reading_each_alone_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vanished: str | None
) -> None:
    small_logs(tmp_path / "raw")
    sources = find_sources([str(tmp_path / "raw")])
    logs = [(s, opened) for s in sources if (opened := sniff(s.uri)).format == "cloudfront"]
    outs = [ObjectRows(s.uri) for s, _ in logs]
    read = read_cloudfront_together(
        [(s.uri, opened.compressed, out) for (s, opened), out in zip(logs, outs, strict=True)],
        NOW,
        StemTable(),
    )
    assert {Path(s.uri).name for (s, _), done in zip(logs, read, strict=True) if done} == {
        "a0.gz",
        "a1.gz",
        "a2.gz",
        "a3.gz",
        "b-era24.gz",
        "h-plain.log",
        "i16.gz",
        "i17.gz",
        "i18.gz",
    }
    for (source, _), out, done in zip(logs, outs, read, strict=True):
        alone_report, alone_rows = read_object(source, NOW, StemTable())
        if done:  # the same rows, in the same order, as the object read alone
            assert (out.records_read, out.records_written, out.row_counts()) == (
                alone_report.records_read,
                alone_report.records_written,
                alone_report.rows,
            )
            assert {t: [r for p in ps for r in p.to_pylist()] for t, ps in out.take().items()} == {
                t: [r for p in ps for r in p.to_pylist()] for t, ps in alone_rows.take().items()
            }, source.uri
        else:
            assert not out.take() and out.records_read == 0

    # And end to end, with an object gone between listing and reading.
    if vanished:
        (tmp_path / "raw" / vanished).unlink()
    together = ingest(sources, Lake.at(str(tmp_path / "together")), lambda: NOW)
    monkeypatch.setattr("ingest.run.SMALL_OBJECT", 0)  # every log read alone
    alone = ingest(sources, Lake.at(str(tmp_path / "alone")), lambda: NOW)
    assert together.sources == alone.sources
    formats = [s.format for s in together.sources]
    assert formats.count("vanished") == (1 if vanished else 0) and "unknown" in formats
    assert sum(s.quarantined for s in together.sources) >= 3  # bad, repeated header, cut
    assert lake_rows(Lake.at(str(tmp_path / "together"))) == lake_rows(
        Lake.at(str(tmp_path / "alone"))
    )
