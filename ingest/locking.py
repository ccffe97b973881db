"""One writer at a time per LAKE: two ingests reading the same new objects would
both write them, and a compaction must not swap a partition an ingest is adding to."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.lake import Lake


class LakeBusyError(RuntimeError):
    """Another ingest or compaction holds the LAKE for longer than we were willing to wait."""


@contextlib.contextmanager
def exclusive(root: Path, *, timeout_s: float = 600.0) -> Iterator[None]:
    """A local LAKE: an flock on ``_lock``, released by the kernel if the holder dies."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "_lock").open("a+b") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LakeBusyError(
                        f"{root} is held by another ingest or compaction for over {timeout_s:.0f} s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


LEASE_S = 900.0


@contextlib.contextmanager
def lake_lock(lake: Lake, *, timeout_s: float = 600.0) -> Iterator[None]:
    if not lake.where.is_s3:
        with exclusive(lake.local_path(), timeout_s=timeout_s):
            yield
        return
    with _s3_lease(lake, timeout_s):
        yield


def supports_conditional_writes(client: Any) -> bool:
    """Whether this client's service model knows ``PutObject``'s ``If-None-Match``."""
    from botocore.model import OperationNotFoundError

    try:
        members = client.meta.service_model.operation_model("PutObject").input_shape.members
    except OperationNotFoundError:
        return False
    return "IfNoneMatch" in members


def botocore_version() -> str:
    import botocore

    return str(botocore.__version__)


@contextlib.contextmanager
def _s3_lease(lake: Lake, timeout_s: float) -> Iterator[None]:
    """An S3 LAKE: a ``_lock`` object created only if absent (conditional PUT). A holder
    that dies leaves it behind, so a lock older than ``LEASE_S`` is taken over."""
    import boto3
    from botocore.exceptions import ClientError

    bucket, _, prefix = lake.where.root.partition("/")
    key = f"{prefix}/_lock" if prefix else "_lock"
    client = boto3.session.Session().client("s3")  # read the AWS settings now, not at import
    if not supports_conditional_writes(client):
        # An SDK that predates S3 conditional writes would drop the condition's meaning (or
        # refuse the parameter mid-run): say so before touching the LAKE.
        raise LakeBusyError(
            f"the AWS SDK here (botocore {botocore_version()}) cannot make S3 conditional "
            "writes, which the LAKE lock needs: use boto3/botocore released after August 2024 "
            "(in AWS Lambda: bundle it or add it as a layer; docs/deployment.md)"
        )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.put_object(
                Bucket=bucket, Key=key, Body=str(time.time()).encode(), IfNoneMatch="*"
            )
            break
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
            try:
                held_since = float(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            except (ClientError, ValueError):
                held_since = time.time()
            if time.time() - held_since > LEASE_S:
                client.delete_object(Bucket=bucket, Key=key)
                continue
            if time.monotonic() >= deadline:
                raise LakeBusyError(f"{lake.uri} is held by another ingest") from None
            time.sleep(1.0)
    try:
        yield
    finally:
        client.delete_object(Bucket=bucket, Key=key)
