"""`certsight publish sync s3://BUCKET/PREFIX` against moto's real S3 server on 127.0.0.1:
every served file uploaded with its Content-Type, Cache-Control and SHA-256; targets and
plain files first and the TUF metadata last in TUF's order (the PUTs are recorded with a
boto3 ``before-send`` event hook, a client feature, not a patch); a re-sync uploads
nothing; a new release uploads only what changed; an interrupted sync completes on a
re-run; python-tuf's ngclient verifies and downloads the agent from moto over HTTP; and
the precise refusals (bucket behind or diverged, no bucket, access denied, nothing
published) with their exit codes through the real command line."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import boto3
import httpx
import pytest
from tuf.ngclient import Updater

from certsight.settings import Home
from publishing.publisher import Publisher
from publishing.releases import agent_path
from publishing.s3sync import (
    METADATA,
    S3Sync,
    SyncConflictError,
    SyncReport,
    local_objects,
    upload_rank,
)
from tests.publishing.helpers import certsight, throwaway_wheel

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "pub"
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=60"


class Interrupted(Exception):
    """Raised from the progress callback to stop a sync part way, like a killed job."""


def publisher_at(root: Path) -> Publisher:
    return Publisher(
        root / "publish",
        root / "publishing" / "keys",
        channels=("stable", "canary"),
        base_url="https://downloads.example.internal",
    )


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    made = publisher_at(tmp_path / "home")
    made.agent(throwaway_wheel("1.0.0"), channel="canary", rollout=100)
    made.docs({"agent.md": b"# the agent\n"})
    return made


@pytest.fixture
def s3(aws_env: str) -> S3Client:
    return boto3.session.Session().client("s3")


@pytest.fixture
def bucket(s3: S3Client) -> str:
    name = f"publish-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


class PutRecorder:
    """The keys of the PutObject requests a client sends, in order (boto3's
    ``before-send`` event: the request as it leaves for the server)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.keys: list[str] = []
        self._bucket = bucket
        client.meta.events.register("before-send.s3.PutObject", self._record)

    def _record(self, request: Any, **_: Any) -> None:
        path = unquote(urlsplit(request.url).path)
        self.keys.append(path.removeprefix(f"/{self._bucket}/").removeprefix(f"{PREFIX}/"))


def local_files(folder: Path) -> dict[str, str]:
    return {o.path: o.sha256 for o in local_objects(folder)}


def remote_keys(s3: S3Client, bucket: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/")
    return {e["Key"].removeprefix(f"{PREFIX}/") for p in pages for e in p.get("Contents", [])}


def sync(publisher: Publisher, s3: S3Client, bucket: str, **kwargs: Any) -> SyncReport:
    return S3Sync(publisher.served, f"s3://{bucket}/{PREFIX}", s3).run(**kwargs)


def assert_safe_order(keys: list[str]) -> None:
    """Files and targets, then roots (by version), targets, snapshot, timestamp last."""
    assert keys, "nothing was uploaded"
    assert keys == sorted(keys, key=upload_rank)
    first_metadata = next(i for i, k in enumerate(keys) if k.startswith(METADATA))
    assert all(not k.startswith(METADATA) for k in keys[:first_metadata])
    assert all(k.startswith(METADATA) for k in keys[first_metadata:])
    assert keys[-1] == f"{METADATA}timestamp.json"
    roles = [k.rsplit("/", 1)[-1].split(".")[-2] for k in keys[first_metadata:]]
    assert roles == sorted(roles, key=["root", "targets", "snapshot", "timestamp"].index)


def test_sync_uploads_every_file_with_its_headers(
    publisher: Publisher, s3: S3Client, bucket: str
) -> None:
    report = sync(publisher, s3, bucket)
    files = local_files(publisher.served)
    assert remote_keys(s3, bucket) == set(files)
    assert sorted(report.uploaded) == sorted(f"{PREFIX}/{p}" for p in files)
    wheel = next(p for p in files if p.endswith(".whl"))
    expected = {
        wheel: ("application/zip", IMMUTABLE),
        f"{METADATA}1.root.json": ("application/json", IMMUTABLE),
        f"{METADATA}timestamp.json": ("application/json", SHORT),
        "docs/agent.md": ("text/markdown; charset=utf-8", SHORT),
    }
    for path, (media_type, cache) in expected.items():
        head = s3.head_object(Bucket=bucket, Key=f"{PREFIX}/{path}")
        assert (head["ContentType"], head["CacheControl"]) == (media_type, cache), path
        assert head["Metadata"]["sha256"] == files[path]
    body = s3.get_object(Bucket=bucket, Key=f"{PREFIX}/{wheel}")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == files[wheel]


def test_uploads_go_in_tuf_safe_order_and_a_resync_uploads_nothing(
    publisher: Publisher, s3: S3Client, bucket: str
) -> None:
    puts = PutRecorder(s3, bucket)
    sync(publisher, s3, bucket)
    assert_safe_order(puts.keys)
    assert len(puts.keys) == len(local_files(publisher.served))

    puts.keys.clear()
    again = sync(publisher, s3, bucket)
    assert puts.keys == []
    assert again.uploaded == []
    assert again.unchanged == len(local_files(publisher.served))


def test_an_etag_that_is_not_the_md5_is_compared_by_its_sha256(
    publisher: Publisher, s3: S3Client, bucket: str
) -> None:
    """A multipart upload's ETag (as an SSE-KMS one) is no MD5: the SHA-256 in the
    object's metadata decides, so such an object is not uploaded again."""
    files = local_files(publisher.served)
    wheel = next(p for p in files if p.endswith(".whl"))
    key = f"{PREFIX}/{wheel}"
    started = s3.create_multipart_upload(Bucket=bucket, Key=key, Metadata={"sha256": files[wheel]})
    part = s3.upload_part(
        Bucket=bucket,
        Key=key,
        UploadId=started["UploadId"],
        PartNumber=1,
        Body=(publisher.served / wheel).read_bytes(),
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=started["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    assert s3.head_object(Bucket=bucket, Key=key)["ETag"].endswith('-1"')

    puts = PutRecorder(s3, bucket)
    report = sync(publisher, s3, bucket)
    assert wheel not in puts.keys
    assert report.unchanged == 1


def test_a_new_release_uploads_only_what_changed_and_deletes_nothing(
    publisher: Publisher, s3: S3Client, bucket: str
) -> None:
    sync(publisher, s3, bucket)
    before = local_files(publisher.served)
    publisher.agent(throwaway_wheel("1.1.0"), channel="canary", rollout=10)
    after = local_files(publisher.served)
    changed = {p for p, digest in after.items() if before.get(p) != digest}
    new_wheel = next(p for p in changed if p.endswith("certsight_agent-1.1.0-py3-none-any.whl"))

    puts = PutRecorder(s3, bucket)
    sync(publisher, s3, bucket)
    assert set(puts.keys) == changed
    assert new_wheel in puts.keys
    assert not any(k.endswith("certsight_agent-1.0.0-py3-none-any.whl") for k in puts.keys)
    roles = sorted(k.rsplit("/", 1)[-1].split(".")[-2] for k in puts.keys if k.startswith(METADATA))
    assert roles == [
        "snapshot",
        "snapshot",
        "targets",
        "targets",
        "timestamp",
    ]  # the wheel and its scripts were two commits: both versions go up, no root
    assert_safe_order(puts.keys)
    assert remote_keys(s3, bucket) == set(after)  # the 1.0.0 files stay


def test_an_interrupted_sync_completes_on_a_rerun(
    publisher: Publisher, s3: S3Client, bucket: str
) -> None:
    done: list[str] = []

    def stop_after_three(key: str) -> None:
        done.append(key)
        if len(done) == 3:
            raise Interrupted(key)

    with pytest.raises(Interrupted):
        sync(publisher, s3, bucket, progress=stop_after_three)
    assert f"{METADATA}timestamp.json" not in remote_keys(s3, bucket)

    rest = sync(publisher, s3, bucket)
    assert rest.unchanged == 3
    assert not set(rest.uploaded) & set(done)
    assert remote_keys(s3, bucket) == set(local_files(publisher.served))


def public_read(bucket: str) -> dict[str, Any]:
    """What CloudFront's origin access gives it (moto has no CloudFront: the test
    client reads anonymously, as an edge would with OAC's signed requests)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }


def test_ngclient_verifies_and_downloads_the_agent_from_s3(
    publisher: Publisher, s3: S3Client, bucket: str, aws_env: str, tmp_path: Path
) -> None:
    sync(publisher, s3, bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read(bucket)))
    base = f"{aws_env}/{bucket}/{PREFIX}/tuf"
    client = tmp_path / "client"
    (client / "metadata").mkdir(parents=True)
    (client / "targets").mkdir()
    updater = Updater(
        metadata_dir=str(client / "metadata"),
        metadata_base_url=f"{base}/metadata/",
        target_dir=str(client / "targets"),
        target_base_url=f"{base}/targets/",
        bootstrap=publisher.repository.root_bytes(),
    )
    updater.refresh()
    info = updater.get_targetinfo(agent_path("canary", "1.0.0"))
    assert info is not None
    assert info.custom["certsight"]["version"] == "1.0.0"
    downloaded = Path(updater.download_target(info))
    wheel = publisher.served / next(
        t.url_path for t in publisher.repository.targets() if t.path == info.path
    ).lstrip("/")
    assert downloaded.read_bytes() == wheel.read_bytes()
    served = httpx.get(f"{base}/metadata/timestamp.json")
    assert served.headers["cache-control"] == SHORT


def test_a_home_behind_the_bucket_or_another_repository_is_refused(
    publisher: Publisher, s3: S3Client, bucket: str, tmp_path: Path
) -> None:
    behind = tmp_path / "behind"
    shutil.copytree(publisher.served, behind / "publish")
    publisher.refresh(force=True)
    sync(publisher, s3, bucket)
    puts = PutRecorder(s3, bucket)

    with pytest.raises(SyncConflictError, match=r"newer than the local version \d+: .* is behind"):
        S3Sync(behind / "publish", f"s3://{bucket}/{PREFIX}", s3).run()
    other = publisher_at(tmp_path / "other")
    other.docs({"agent.md": b"# another repository\n"})
    with pytest.raises(SyncConflictError, match=r"holds different tuf/metadata/1\.root\.json"):
        S3Sync(other.served, f"s3://{bucket}/{PREFIX}", s3).run()
    assert puts.keys == []


# -- the command line: --sync, and each failure's one line and exit code ---------------
def test_refresh_with_sync_option_and_the_sync_command(
    publisher: Publisher, s3: S3Client, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Home(publisher.served.parent)
    uri = f"s3://{bucket}/{PREFIX}"
    first = certsight(home, "publish", "sync", uri)
    assert f"uploaded {uri}/{METADATA}timestamp.json" in first.stdout
    assert "0 unchanged" in first.stderr

    refreshed = certsight(home, "publish", "refresh", "--force", "--sync", uri)
    assert refreshed.stdout.splitlines()[-1] == f"uploaded {uri}/{METADATA}timestamp.json"
    assert "3 uploaded" in refreshed.stderr  # the new targets, snapshot and timestamp
    stamp = s3.get_object(Bucket=bucket, Key=f"{PREFIX}/{METADATA}timestamp.json")
    assert stamp["Body"].read() == (publisher.served / METADATA / "timestamp.json").read_bytes()

    monkeypatch.setenv("CERTSIGHT_PUBLISH_SYNC", uri)  # the location from the environment
    again = certsight(home, "publish", "sync")
    assert again.stdout == ""
    assert "synced" in again.stderr and " 0 uploaded" in again.stderr


def test_missing_bucket_and_nothing_published_exit_codes(
    publisher: Publisher, aws_env: str, tmp_path: Path
) -> None:
    home = Home(publisher.served.parent)
    missing = certsight(home, "publish", "sync", "s3://no-such-bucket-here/pub", check=False)
    assert missing.returncode == 3
    assert "Error: the sync failed: no bucket 'no-such-bucket-here'" in missing.stderr
    assert "Traceback" not in missing.stderr

    empty = certsight(Home(tmp_path / "empty"), "publish", "sync", "s3://b/p", check=False)
    assert empty.returncode == 1
    assert "nothing published at" in empty.stderr

    wrong = certsight(home, "publish", "sync", "https://example.com/p", check=False)
    assert wrong.returncode == 1
    assert "not an S3 location" in wrong.stderr


ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Access Denied</Message><RequestId>4442587FB7D0A2F9</RequestId>"
    b"<HostId>recorded</HostId></Error>"
)  # the shape real S3 answers a principal without s3:ListBucket


@pytest.fixture
def denying_s3() -> Iterator[str]:
    """An endpoint on 127.0.0.1 answering every request with S3's recorded 403
    (moto's server does not enforce IAM)."""

    class Handler(BaseHTTPRequestHandler):
        def _deny(self) -> None:
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(ACCESS_DENIED)))
            self.end_headers()
            self.wfile.write(ACCESS_DENIED)

        do_GET = do_PUT = do_HEAD = _deny

        def log_message(self, *args: Any) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_access_denied_exits_4_with_one_line(
    publisher: Publisher, aws_env: str, denying_s3: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", denying_s3)
    home = Home(publisher.served.parent)
    done = certsight(home, "publish", "docs", "--sync", "s3://locked/pub", check=False)
    assert done.returncode == 4
    assert "publish docs: done in" in done.stderr
    assert "access denied (AccessDenied: Access Denied)" in done.stderr
    assert "testing" not in done.stderr  # no credential in the message
    assert "Traceback" not in done.stderr
