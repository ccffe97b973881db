"""Downloads of published files become LAKE rows: the publishing server's access log and
CloudFront's log of the same paths give the same kind, name, version and channel; a
download by curl and by an agent-like client lands in `artifact_downloads` after
`certsight ingest`, and the PKI "Trust stores and agents" page shows the numbers SQL
gives over the built warehouse."""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from streamlit.testing.v1 import AppTest

from ingest.formats.published_paths import artifact_of
from ingest.run import read_object
from ingest.sources import find_sources
from tests.conftest import PkiHome, RunningServer, make_home, start_server
from tests.publishing.helpers import certsight, write_wheel

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HASH = "ab" * 32
AGENT_UA = "certsight-agent/1.1.0 (canary; linux)"
APP = Path(__file__).resolve().parents[2] / "dashboards" / "app.py"

PATHS = {
    f"/tuf/targets/channels/canary/agent/{HASH}.certsight_agent-1.1.0-py3-none-any.whl": (
        "agent",
        "certsight_agent-1.1.0-py3-none-any.whl",
        "1.1.0",
        "canary",
    ),
    f"/tuf/targets/channels/stable/scripts/{HASH}.install.sh": (
        "script",
        "install.sh",
        None,
        "stable",
    ),
    f"/tuf/targets/truststore/roots/0123456789abcdef/{HASH}.roots.p12": (
        "truststore",
        "roots.p12",
        "0123456789abcdef",
        None,
    ),
    f"/tuf/targets/docs/{HASH}.agent.md": ("doc", "agent.md", None, None),
    "/tuf/metadata/timestamp.json": ("other", "timestamp.json", None, None),
    "/tuf/metadata/3.snapshot.json": ("other", "3.snapshot.json", None, None),
    "/truststore/roots.pem": ("truststore", "roots.pem", None, None),
    "/docs/agent.md": ("doc", "agent.md", None, None),
    "/ca/root-ca.crt": ("ca-certificate", "root-ca.crt", None, None),
    # the earlier layout keeps its reading
    "/agent/stable/certsight-agent-1.4.2.msi": (
        "agent",
        "certsight-agent-1.4.2.msi",
        "1.4.2",
        "stable",
    ),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_paths_read_as_the_contract_says(path: str) -> None:
    assert artifact_of(path) == PATHS[path]


def _records(paths: list[str]) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "log": "download",
                "event_time": "2026-12-07T10:00:00.000001Z",
                "request_id": f"r{i}",
                "source": "lambda",
                "adapter": "http",
                "client_ip": "127.0.0.1",
                "user_agent": AGENT_UA,
                "http_method": "GET",
                "path": path,
                "http_status": 200,
                "request_bytes": 0,
                "response_bytes": 10 + i,
                "latency_ms": 0.5,
            }
        )
        for i, path in enumerate(paths)
    ]


def test_access_log_and_cloudfront_log_read_the_same(tmp_path: Path) -> None:
    paths = list(PATHS)
    access = tmp_path / "raw" / "download" / "a.jsonl.gz"
    access.parent.mkdir(parents=True)
    access.write_bytes(gzip.compress(b"\n".join(_records(paths)) + b"\n"))
    report, rows = read_object(find_sources([str(access)])[0], NOW)
    assert report.quarantined == 0
    from_access = [
        (r["kind"], r["name"], r["version"], r["channel"])
        for r in rows.all_rows("artifact_downloads")
    ]
    assert from_access == [PATHS[p] for p in paths]
    assert {r["user_agent"] for r in rows.all_rows("artifact_downloads")} == {AGENT_UA}

    fields = [
        *("date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)"),
        *("cs-uri-stem", "sc-status", "cs(Referer)", "cs(User-Agent)", "cs-uri-query"),
        *("cs(Cookie)", "x-edge-result-type", "x-edge-request-id", "x-host-header"),
        *("cs-protocol", "cs-bytes", "time-taken"),
    ]
    lines = ["#Version: 1.0", "#Fields: " + " ".join(fields)]
    for i, path in enumerate(paths):
        values = {
            "date": "2026-12-07",
            "time": "10:00:00",
            "x-edge-location": "FRA56-C1",
            "sc-bytes": str(100 + i),
            "c-ip": "198.51.100.7",
            "cs-method": "GET",
            "cs(Host)": "d111.cloudfront.net",
            "cs-uri-stem": path,
            "sc-status": "200",
            "cs(Referer)": "-",
            "cs(User-Agent)": AGENT_UA.replace(" ", "%20"),
            "cs-uri-query": "-",
            "cs(Cookie)": "-",
            "x-edge-result-type": "Hit",
            "x-edge-request-id": f"cf{i}==",
            "x-host-header": "pki.example.test",
            "cs-protocol": "https",
            "cs-bytes": "200",
            "time-taken": "0.001",
        }
        lines.append("\t".join(values[f] for f in fields))
    cdn = tmp_path / "cdn" / "E2EXAMPLE.2026-12-07-10.abcd1234.gz"
    cdn.parent.mkdir()
    cdn.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    report, rows = read_object(find_sources([str(cdn)])[0], NOW)
    assert report.quarantined == 0
    from_cdn = [
        (r["kind"], r["name"], r["version"], r["channel"])
        for r in rows.all_rows("artifact_downloads")
    ]
    assert from_cdn == from_access
    assert {r["user_agent"] for r in rows.all_rows("artifact_downloads")} == {AGENT_UA}


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PkiHome]:
    """A home with a trust store and a canary release, downloaded through the server by
    curl and by a client with the agent's User-Agent, then ingested and built."""
    home = make_home(tmp_path_factory.mktemp("downloads"))
    h = home.home
    certsight(h, "publish", "truststore")
    wheels = tmp_path_factory.mktemp("wheels")
    certsight(
        h,
        "publish",
        "agent",
        "--channel",
        "canary",
        "--rollout",
        "10",
        "--wheel",
        str(write_wheel(wheels, "1.1.0")),
    )
    server: RunningServer = start_server(home, "publishing")
    try:
        listed = orjson.loads(certsight(h, "publish", "status", "--format", "json").stdout)
        by = {(a["kind"], a["name"], a.get("format")): a for a in listed["artifacts"]}
        p12 = by[("truststore", "roots", "p12")]["url_path"]
        wheel = by[("agent", "certsight-agent", None)]["url_path"]
        installer = by[("script", "install.sh", None)]["url_path"]
        for path in ("/truststore/roots.pem", p12, installer):
            subprocess.run(
                ["curl", "-fsS", "-o", "/dev/null", f"{server.url}{path}"], check=True, timeout=30
            )
        with httpx.Client(base_url=server.url, headers={"user-agent": AGENT_UA}) as agent:
            for path in ("/tuf/metadata/timestamp.json", wheel, wheel):
                assert agent.get(path).status_code == 200
            assert agent.get("/tuf/targets/nothing").status_code == 404
    finally:
        assert server.stop() == 0  # a clean stop writes the pending log records
    _validate_once(home)  # the dashboards show a period only where validation traffic is
    certsight(h, "ingest")
    certsight(h, "build")
    yield home


def _validate_once(home: PkiHome) -> None:
    """One OCSP request from the agent to the responder (`certsight serve`)."""
    issuer = x509.load_pem_x509_certificate(home.home.pki.issuing_cert.read_bytes())
    leaf = x509.load_pem_x509_certificate(home.good.read_bytes())
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, issuer, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    responder = start_server(home)
    try:
        reply = httpx.post(
            f"{responder.url}/ocsp",
            content=request,
            headers={"content-type": "application/ocsp-request", "user-agent": AGENT_UA},
        )
        assert reply.status_code == 200
    finally:
        assert responder.stop() == 0


def _lake(home: PkiHome) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    pattern = str(home.home.lake / "artifact_downloads" / "**" / "*.parquet")
    con.execute(f"create view d as select * from read_parquet('{pattern}', hive_partitioning=true)")
    return con


def test_downloads_land_in_the_lake_with_kind_name_version_channel(
    downloaded: PkiHome,
) -> None:
    rows = (
        _lake(downloaded)
        .execute(
            "select kind, name, version, channel, user_agent, http_status from d "
            "order by kind, name, http_status"
        )
        .fetchall()
    )
    by_kind: dict[str, list[tuple[object, ...]]] = {}
    for row in rows:
        by_kind.setdefault(str(row[0]), []).append(row)
    assert [r[1:4] for r in by_kind["agent"]] == [
        ("certsight_agent-1.1.0-py3-none-any.whl", "1.1.0", "canary")
    ] * 2
    assert {r[4] for r in by_kind["agent"]} == {AGENT_UA}
    stores = sorted((r[1], r[2]) for r in by_kind["truststore"])
    assert stores[0][0] == "roots.p12" and len(str(stores[0][1])) == 16
    assert stores[1] == ("roots.pem", None)
    assert all(str(r[4]).startswith("curl/") for r in by_kind["truststore"] + by_kind["script"])
    assert [(r[1], r[3]) for r in by_kind["script"]] == [("install.sh", "canary")]
    other = [(r[1], r[5]) for r in by_kind["other"]]
    assert ("timestamp.json", 200) in other and ("/tuf/targets/nothing", 404) in other


def test_the_trust_stores_and_agents_page_shows_them(
    downloaded: PkiHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = duckdb.connect(str(downloaded.home.warehouse), read_only=True)
    try:
        stores, agents = con.execute(
            "select coalesce(sum(downloads) filter (where kind = 'truststore'), 0), "
            "coalesce(sum(downloads) filter (where kind = 'agent'), 0) "
            "from fact_downloads_daily"
        ).fetchone() or (None, None)
    finally:
        con.close()
    assert (stores, agents) == (2, 2)
    monkeypatch.setenv("CERTSIGHT_HOME", str(downloaded.home.root))
    monkeypatch.delenv("CERTSIGHT_WAREHOUSE", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("pki/adoption.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: str(m.value) for m in at.metric}
    assert int(metrics["Trust-store downloads"].replace(",", "")) == stores
    assert int(metrics["Agent downloads"].replace(",", "")) == agents
