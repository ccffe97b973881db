"""One writer at a time per LAKE: two ingests reading the same new objects would
both write them, and a compaction must not swap a partition an ingest is adding to."""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from ingest.lake import Lake


class LakeBusyError(RuntimeError):
    """Another ingest or compaction holds the LAKE for longer than we were willing to wait."""


class LeaseLostError(LakeBusyError):
    """Our S3 lease was taken over (it went unrenewed for longer than the lease): what we
    were about to commit must not be, since another writer now owns the LAKE."""


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


# A holder renews every LEASE_S / 3 (ingest/s3_lease.py), so a lease goes stale only when
# its holder stopped: killed, frozen, or cut off from S3 for 15 minutes. Clocks of the hosts
# that share a LAKE may differ by up to LEASE_S - LEASE_S / 3 before a live holder is
# mistaken for a dead one.
LEASE_S = 900.0


class Hold(Protocol):
    """What a lock holder may ask before it commits: is the LAKE still mine?"""

    def confirm(self) -> None:
        """Raise :class:`LeaseLostError` if another writer took the LAKE over."""
        ...


class _Flock:
    def confirm(self) -> None:
        """An flock is the kernel's until this process lets go or dies: never lost."""


@contextlib.contextmanager
def lake_lock(
    lake: Lake, *, timeout_s: float = 600.0, client: S3Client | None = None
) -> Iterator[Hold]:
    """One writer at a time: an flock for a local LAKE, a lease object on S3."""
    if not lake.where.is_s3:
        with exclusive(lake.local_path(), timeout_s=timeout_s):
            yield _Flock()
        return
    from ingest.s3_lease import S3Lease

    if client is None:
        import boto3

        client = boto3.session.Session().client("s3")  # read the AWS settings now
    if not supports_conditional_writes(client):
        # An SDK that predates S3 conditional requests would drop the condition's meaning
        # (or refuse the parameter mid-run): say so before touching the LAKE.
        raise LakeBusyError(
            f"the AWS SDK here (botocore {botocore_version()}) cannot make S3 conditional "
            "writes and deletes, which the LAKE lock needs: use boto3/botocore released "
            "after November 2024 (in AWS Lambda: bundle it or add it as a layer; "
            "docs/deployment.md)"
        )
    bucket, _, prefix = lake.where.root.partition("/")
    lease = S3Lease(client, bucket, f"{prefix}/_lock" if prefix else "_lock", lease_s=LEASE_S)
    lease.acquire(timeout_s)
    try:
        yield lease
    finally:
        lease.release()


def supports_conditional_writes(client: Any) -> bool:
    """Whether this client's service model knows every condition the lease uses:
    ``If-None-Match`` and ``If-Match`` on ``PutObject``, ``If-Match`` on ``DeleteObject``."""
    from botocore.model import OperationNotFoundError

    try:
        model = client.meta.service_model
        put = model.operation_model("PutObject").input_shape.members
        delete = model.operation_model("DeleteObject").input_shape.members
    except OperationNotFoundError:
        return False
    return {"IfNoneMatch", "IfMatch"} <= set(put) and "IfMatch" in delete


def botocore_version() -> str:
    import botocore

    return str(botocore.__version__)
