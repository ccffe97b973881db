"""The contract, checked from the other side: the real certsight agent (agent/, when it
is installed in this environment) installs a trust store through the repository that
`certsight serve publishing` serves, and its requests carry its User-Agent into the
access log the ingest reads."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_home, start_server
from tests.publishing.helpers import certsight

AGENT = Path(sys.executable).parent / "certsight-agent"


@pytest.mark.slow
def test_the_agent_installs_the_published_trust_store(tmp_path: Path) -> None:
    if not AGENT.exists() or shutil.which("keytool") is None:
        pytest.skip("the certsight agent is not installed in this environment (make test does)")
    home = make_home(tmp_path / "home")
    certsight(home.home, "publish", "truststore")
    metadata = home.home.root / "publish" / "tuf" / "metadata"
    server = start_server(home, "publishing")
    try:
        out = tmp_path / "trust" / "roots.p12"
        done = subprocess.run(
            [
                str(AGENT),
                "trust",
                "install",
                "--repo",
                server.url,
                "--path",
                str(out),
                "--format",
                "p12",
                "--root",
                str(metadata / "1.root.json"),
            ],
            env={**os.environ, "CERTSIGHT_AGENT_HOME": str(tmp_path / "agent")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    finally:
        assert server.stop() == 0
    assert out.read_bytes() == (home.home.root / "publish/truststore/roots.p12").read_bytes()
    listed = subprocess.run(
        [
            "keytool",
            "-list",
            "-keystore",
            str(out),
            "-storetype",
            "PKCS12",
            "-storepass",
            "changeit",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "trustedCertEntry" in listed.stdout
    agents = [  # on disk: a clean stop writes the pending records
        record
        for batch in (home.home.raw / "download").glob("dt=*/*.jsonl.gz")
        for line in gzip.decompress(batch.read_bytes()).splitlines()
        if line.strip()
        for record in [json.loads(line)]
        if str(record.get("user_agent", "")).startswith("certsight-agent/")
    ]
    paths = {str(r["path"]) for r in agents}
    assert "/tuf/metadata/timestamp.json" in paths
    assert any(
        p.endswith(".roots.p12") and p.startswith("/tuf/targets/truststore/roots/") for p in paths
    )
