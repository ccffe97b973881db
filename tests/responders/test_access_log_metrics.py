"""The access-log writer's trouble is visible at /metrics: writes that failed, records
waiting for the disk, records written (issue 10, item 12)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from responders.web.asgi import ValidationApp
from responders.web.runtime import RuntimeConfig
from tests.conftest import PkiHome
from tests.responders.test_asgi import call, scope


def _access_log_samples(app: ValidationApp) -> dict[tuple[str, str], float]:
    start, body = call(app, scope("/metrics", "GET", client=("127.0.0.1", 40001)), [b""])
    assert start["status"] == 200
    return {
        (sample.name, sample.labels.get("kind", "")): sample.value
        for family in text_string_to_metric_families(body["body"].decode())
        for sample in family.samples
        if sample.name.startswith("certsight_access_log_")
    }


def test_a_failing_log_folder_shows_in_the_metrics_and_nothing_is_lost(
    pki_home: PkiHome, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    blocker = raw / "crl" / f"dt={today}"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the day folder should be")  # every write fails
    app = ValidationApp(
        RuntimeConfig(
            pki_dir=str(pki_home.pki),
            raw_dir=str(raw),
            store_uri=str(pki_home.home.pki.store),
            log_batch_seconds=3600,
        )
    )
    app.start()
    try:
        for _ in range(3):
            assert call(app, scope("/crl/issuing-ca.crl", "GET"), [b""])[0]["status"] == 200
        writer = app._sinks["crl"]  # the test drives the writer's timing
        with pytest.raises(OSError):
            writer.flush()  # type: ignore[attr-defined]
        failing = _access_log_samples(app)
        assert failing[("certsight_access_log_write_failures_total", "crl")] == 1
        assert failing[("certsight_access_log_records_pending", "crl")] == 3
        assert failing[("certsight_access_log_records_written_total", "crl")] == 0
        assert failing[("certsight_access_log_records_dropped_total", "crl")] == 0

        blocker.unlink()  # the operator frees the folder: the waiting records land
        writer.flush()  # type: ignore[attr-defined]
        recovered = _access_log_samples(app)
        assert recovered[("certsight_access_log_records_written_total", "crl")] == 3
        assert recovered[("certsight_access_log_records_pending", "crl")] == 0
    finally:
        app.stop()
    assert len(list((raw / "crl" / f"dt={today}").glob("*.jsonl.gz"))) == 1
