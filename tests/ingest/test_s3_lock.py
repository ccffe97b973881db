"""The S3 LAKE lock against moto's server: mutual exclusion, one winner per stale lease,
and a holder that lost its lease touches nothing of its successor's."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from ingest.lake import MANIFEST, Lake
from ingest.locking import LEASE_S, LakeBusyError, LeaseLostError, lake_lock
from ingest.run import ingest
from ingest.sources import find_sources
from tests.conftest import PkiHome
from tests.ingest.test_exactly_once import make_raw
from tests.ingest.test_s3 import upload


def now() -> datetime:
    return datetime.now(UTC)


class _Quiet(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log line per request: the racing tests make hundreds."""


class TakeoverGate:
    """Makes the race the lock must win: overwrites and deletes of ``key`` (not the
    ``If-None-Match: *`` creates) wait until ``readers`` GETs of it were answered, so that
    every waiter has seen the stale lease; then they go through one at a time, ``spacing_s``
    apart, so that each lands after the previous one has finished what it started."""

    def __init__(self, key: str, readers: int, spacing_s: float = 0.3) -> None:
        self.key, self.readers, self.spacing_s = key, readers, spacing_s
        self._changed = threading.Condition()
        self._reads = 0
        self._released = 0
        self._last = 0.0

    def _is_key(self, environ: dict[str, Any]) -> bool:
        return str(environ.get("PATH_INFO", "")).endswith(f"/{self.key}")

    def before(self, environ: dict[str, Any]) -> None:
        method = environ["REQUEST_METHOD"]
        if (
            not self._is_key(environ)
            or method not in ("PUT", "DELETE")
            or environ.get("HTTP_IF_NONE_MATCH") == "*"
        ):
            return
        with self._changed:
            if self._released >= self.readers:
                return
            # The timeout only keeps a broken lock from hanging the suite.
            self._changed.wait_for(lambda: self._reads >= self.readers, timeout=60)
            while (delay := self._last + self.spacing_s - time.monotonic()) > 0:
                self._changed.wait(delay)
            self._last = time.monotonic()
            self._released += 1

    def after(self, environ: dict[str, Any]) -> None:
        if self._is_key(environ) and environ["REQUEST_METHOD"] == "GET":
            with self._changed:
                self._reads += 1
                self._changed.notify_all()


@dataclass
class Server:
    url: str
    gate: TakeoverGate | None = None


@pytest.fixture(scope="module")
def one_request_at_a_time() -> Iterator[Server]:
    """moto's server, taking one request at a time.

    moto 5.2.6 checks a condition (``If-None-Match``, ``If-Match``) and then writes, with no
    lock between the two (moto/s3/responses.py, ``put_object``), and its threaded server
    runs requests side by side: two conditional PUTs racing on one key can both succeed
    there (1 race in 300 with four writers, measured here), which S3 never allows. S3
    orders the writes to one key; serialising the requests gives the racing tests below
    that same order, with moto's own S3 behind it.
    """
    app = DomainDispatcherApplication(create_backend_app)
    turn = threading.Lock()
    running = Server("")

    def serialized(environ: dict[str, Any], start_response: Any) -> Any:
        gate = running.gate
        if gate is not None:
            gate.before(environ)
        with turn:
            answer = app(environ, start_response)
        if gate is not None:
            gate.after(environ)
        return answer

    server = make_server("127.0.0.1", 0, serialized, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    running.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield running
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def s3_server(
    aws_env: str, one_request_at_a_time: Server, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", one_request_at_a_time.url)
    one_request_at_a_time.gate = None
    yield one_request_at_a_time
    one_request_at_a_time.gate = None


@pytest.fixture
def bucket(s3_server: Server) -> str:
    name = f"certsight-{uuid.uuid4().hex[:10]}"
    boto3.session.Session().client("s3").create_bucket(Bucket=name)
    return name


def s3() -> Any:
    return boto3.session.Session().client("s3")


def lock_body(bucket: str) -> dict[str, Any] | None:
    try:
        data = s3().get_object(Bucket=bucket, Key="lake/_lock")["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise
    parsed: dict[str, Any] = json.loads(data)
    return parsed


def take_over(bucket: str) -> dict[str, Any]:
    """What a waiter that found our lease stale writes over it."""
    body = {"owner": "successor", "renewed_at": time.time(), "holder": "another host"}
    s3().put_object(Bucket=bucket, Key="lake/_lock", Body=json.dumps(body).encode())
    return body


class Inside:
    """Who is inside the lock, and the most that ever were at once."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.now = 0
        self.most = 0
        self.entered = 0

    def hold(self, seconds: float) -> None:
        with self._guard:
            self.now += 1
            self.entered += 1
            self.most = max(self.most, self.now)
        time.sleep(seconds)  # long enough for a second winner, if there were one, to enter
        with self._guard:
            self.now -= 1


def run_all(workers: list[Callable[[], None]]) -> list[Exception]:
    errors: list[Exception] = []
    start = threading.Barrier(len(workers))

    def run(work: Callable[[], None]) -> None:
        start.wait()
        try:
            work()
        except Exception as exc:  # noqa: BLE001 - handed to the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_racing_ingests_write_every_object_once(
    pki_home: PkiHome, tmp_path: Path, bucket: str
) -> None:
    expected = make_raw(pki_home, tmp_path / "raw", 8)
    upload(tmp_path / "raw", bucket, "raw")
    lake = Lake.at(f"s3://{bucket}/lake")
    reports = []

    def one_ingest() -> None:
        reports.append(ingest(find_sources([f"s3://{bucket}/raw"]), lake, now))

    assert run_all([one_ingest, one_ingest]) == []
    table = lake.read("ocsp_requests")
    assert table.num_rows == expected
    keys = Counter(
        zip(table.column("request_id").to_pylist(), table.column("serial").to_pylist(), strict=True)
    )
    assert max(keys.values()) == 1
    assert sorted(len(r.sources) for r in reports) == [0, 8]  # the second found all done
    assert sorted(r.already_ingested for r in reports) == [0, 8]
    assert lock_body(bucket) is None


def test_a_stale_lease_is_taken_over_by_exactly_one_waiter(
    s3_server: Server, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Left by a holder that died: what certsight wrote before lease owners (a bare time).
    s3().put_object(Bucket=bucket, Key="lake/_lock", Body=str(time.time() - 2 * LEASE_S).encode())
    lake = Lake.at(f"s3://{bucket}/lake")
    inside = Inside()
    s3_server.gate = TakeoverGate("lake/_lock", readers=4)

    def waiter() -> None:
        with lake_lock(lake, timeout_s=120):
            inside.hold(0.5)

    with caplog.at_level(logging.WARNING, logger="ingest"):
        assert run_all([waiter] * 4) == []
    assert inside.most == 1
    assert inside.entered == 4
    takeovers = [r for r in caplog.records if "took over the LAKE lock" in r.getMessage()]
    assert len(takeovers) == 1
    assert "certsight before lease owners" in takeovers[0].getMessage()
    assert lock_body(bucket) is None


def test_a_holder_whose_lease_was_taken_over_does_not_delete_the_new_lock(
    bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    lake = Lake.at(f"s3://{bucket}/lake")
    with caplog.at_level(logging.WARNING, logger="ingest"), lake_lock(lake, timeout_s=10):
        mine = lock_body(bucket)
        assert mine is not None and len(mine["owner"]) == 32
        successor = take_over(bucket)
    assert lock_body(bucket) == successor
    assert any("no longer ours" in r.getMessage() for r in caplog.records)


def test_a_run_that_lost_its_lease_does_not_commit(
    pki_home: PkiHome, tmp_path: Path, bucket: str
) -> None:
    make_raw(pki_home, tmp_path / "raw", 3)
    upload(tmp_path / "raw", bucket, "raw")
    lake = Lake.at(f"s3://{bucket}/lake")
    successors: list[dict[str, Any]] = []

    def taken_over_while_reading(_: object) -> None:
        if not successors:
            successors.append(take_over(bucket))

    with pytest.raises(LeaseLostError, match="taken over by another ingest"):
        ingest(find_sources([f"s3://{bucket}/raw"]), lake, now, on_object=taken_over_while_reading)
    listed = s3().list_objects_v2(Bucket=bucket, Prefix=f"lake/{MANIFEST}/")
    assert listed.get("KeyCount", 0) == 0  # nothing committed
    assert lake.read("ocsp_requests").num_rows == 0
    assert lock_body(bucket) == successors[0]  # and the successor's lock left alone


def test_a_live_lease_is_waited_for_not_taken(bucket: str) -> None:
    lake = Lake.at(f"s3://{bucket}/lake")
    with lake_lock(lake, timeout_s=10) as held:
        with (
            pytest.raises(LakeBusyError, match="held by another ingest"),
            lake_lock(lake, timeout_s=0),
        ):
            pass
        held.confirm()  # still ours
        assert lock_body(bucket) is not None
    assert lock_body(bucket) is None


def test_a_holder_renews_its_lease_and_still_releases_it(bucket: str) -> None:
    from ingest.s3_lease import S3Lease

    lease = S3Lease(s3(), bucket, "lake/_lock", lease_s=LEASE_S, renew_every_s=0.05)
    lease.acquire(timeout_s=10)
    first = lock_body(bucket)
    assert first is not None
    deadline = time.monotonic() + 30
    while (body := lock_body(bucket)) == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert body is not None and body["owner"] == first["owner"]
    assert body["renewed_at"] > first["renewed_at"]
    lease.confirm()
    lease.release()  # with the ETag of the latest renewal, not the first
    assert lock_body(bucket) is None


def test_an_unreadable_lock_object_turns_stale_from_when_it_was_stored() -> None:
    from ingest.s3_lease import LeaseBody

    stored = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert LeaseBody.decode(b"\x00garbage", stored).renewed_at == stored.timestamp()
    assert LeaseBody.decode(b'{"owner": 1}', stored).renewed_at == stored.timestamp()
    assert LeaseBody.decode(b"true", stored).renewed_at == stored.timestamp()
    assert LeaseBody.decode(b"NaN", stored).renewed_at == stored.timestamp()  # never stale
    assert LeaseBody.decode(b'{"owner": "x", "renewed_at": Infinity}', stored).renewed_at == (
        stored.timestamp()
    )
    assert LeaseBody.decode(b"1700000000.5", stored).renewed_at == 1700000000.5
    body = LeaseBody("abc", 12.5, "host pid 1")
    assert LeaseBody.decode(body.encode(), stored) == body
