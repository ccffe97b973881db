"""A lease on one S3 object, every step a conditional request, so that S3 itself decides
who holds it (S3 conditional writes and deletes; the AWS user guide's "conditional
requests" pages).

- create: ``PutObject`` with ``If-None-Match: *`` succeeds for one writer only;
- take over a stale lease: ``PutObject`` with ``If-Match: <the ETag we read>``: of two
  waiters that read the same stale lease, the second PUT finds a new ETag and fails;
- renew: ``PutObject`` with ``If-Match: <our ETag>``: fails once someone took it over;
- release: ``DeleteObject`` with ``If-Match: <our ETag>``: never deletes another
  holder's lease.

The object holds a random owner token (two holders never write the same bytes, so never
the same ETag), the holder's host and process, and when it last renewed. A holder that
dies leaves its lease behind; one not renewed for ``lease_s`` (by the waiter's clock) is
stale and taken over. A live holder renews every ``lease_s / 3`` from a thread, so only
a holder that stopped (killed, frozen, cut off from S3 for ``lease_s``) loses its lease;
one that did learns it at :meth:`S3Lease.confirm`, before it commits anything.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ingest.locking import LakeBusyError, LeaseLostError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

# 412: the condition did not hold; 409: a concurrent conditional request on the same key
# was under way (S3 asks to retry); 404 on If-Match: the object is gone.
_CHANGED = frozenset({"PreconditionFailed", "412"})
_CONFLICT = frozenset({"ConditionalRequestConflict", "409"})
_LOST_RACE = _CHANGED | _CONFLICT
_GONE = frozenset({"NoSuchKey", "404", "NotFound"})


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class LeaseBody:
    """What the lock object says: who holds it and when they last renewed."""

    owner: str
    renewed_at: float  # seconds since the epoch, the holder's clock
    holder: str = ""  # host and process, for the operator who wonders who it is

    def encode(self) -> bytes:
        return json.dumps(
            {"owner": self.owner, "renewed_at": self.renewed_at, "holder": self.holder}
        ).encode()

    @classmethod
    def decode(cls, data: bytes, stored_at: datetime) -> LeaseBody:
        """Also the bare time that certsight wrote before owner tokens; anything else
        unreadable counts from when S3 stored it, so that it turns stale too."""
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            try:
                body = cls(
                    str(parsed["owner"]),
                    float(parsed["renewed_at"]),
                    str(parsed.get("holder") or ""),
                )
            except (KeyError, TypeError, ValueError):
                pass
            else:
                if math.isfinite(body.renewed_at):
                    return body
        elif (
            isinstance(parsed, int | float)
            and not isinstance(parsed, bool)
            and math.isfinite(parsed)
        ):
            return cls("(certsight before lease owners)", float(parsed))
        return cls("(unreadable lock object)", stored_at.timestamp())


class S3Lease:
    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        *,
        lease_s: float,
        renew_every_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lease_s <= 0:
            raise ValueError(f"lease_s must be positive, not {lease_s}")
        self.uri = f"s3://{bucket}/{key}"
        self.owner = secrets.token_hex(16)
        self._client = client
        self._bucket = bucket
        self._key = key
        self._lease_s = lease_s
        self._renew_every_s = lease_s / 3 if renew_every_s is None else renew_every_s
        self._clock = clock
        self._holder = f"{socket.gethostname()} pid {os.getpid()}"
        self._etag: str | None = None  # of the lease object as we last wrote it
        self._lost: str | None = None  # why we no longer hold it
        self._guard = threading.Lock()  # the renewer and release() both move the ETag
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # -- taking it ----------------------------------------------------------------
    def acquire(self, timeout_s: float) -> None:
        """Hold the lease, waiting up to ``timeout_s`` for a live holder to let go."""
        deadline = time.monotonic() + timeout_s
        while not self._create():
            seen = self._read()
            if seen is not None:
                etag, body = seen
                silent_s = self._clock() - body.renewed_at
                if silent_s > self._lease_s and self._take_over(etag, body, silent_s):
                    break
                if time.monotonic() >= deadline:
                    raise LakeBusyError(
                        f"{self.uri} is held by another ingest or compaction "
                        f"({body.holder or body.owner}, last renewed {silent_s:.0f} s ago; "
                        f"taken over once silent for {self._lease_s:.0f} s)"
                    )
                time.sleep(1.0)
        self._renewer = threading.Thread(target=self._renew_until_stopped, name="lake-lease")
        self._renewer.daemon = True  # never keeps a finished process alive
        self._renewer.start()

    def _body(self) -> bytes:
        return LeaseBody(self.owner, self._clock(), self._holder).encode()

    def _create(self) -> bool:
        try:
            reply = self._client.put_object(
                Bucket=self._bucket, Key=self._key, Body=self._body(), IfNoneMatch="*"
            )
        except ClientError as exc:
            if _code(exc) in _LOST_RACE:
                return False
            raise
        self._etag = reply["ETag"]
        return True

    def _read(self) -> tuple[str, LeaseBody] | None:
        """The lease object's ETag and body; None if it vanished since we tried."""
        try:
            reply = self._client.get_object(Bucket=self._bucket, Key=self._key)
            data = reply["Body"].read()
        except ClientError as exc:
            if _code(exc) in _GONE:
                return None
            raise
        return reply["ETag"], LeaseBody.decode(data, reply["LastModified"])

    def _take_over(self, etag: str, stale: LeaseBody, silent_s: float) -> bool:
        try:
            reply = self._client.put_object(
                Bucket=self._bucket, Key=self._key, Body=self._body(), IfMatch=etag
            )
        except ClientError as exc:
            if _code(exc) in _LOST_RACE | _GONE:
                return False  # another waiter took it first, or its holder let go
            raise
        self._etag = reply["ETag"]
        log.warning(
            "took over the LAKE lock %s from %s, silent for %.0f s (lease %.0f s)",
            self.uri,
            stale.holder or stale.owner,
            silent_s,
            self._lease_s,
        )
        return True

    # -- keeping it ---------------------------------------------------------------
    def renew(self) -> bool:
        """Write a fresh time under our ETag; False once the lease is not ours."""
        with self._guard:
            if self._lost is not None or self._etag is None:
                return False
            try:
                reply = self._client.put_object(
                    Bucket=self._bucket, Key=self._key, Body=self._body(), IfMatch=self._etag
                )
            except ClientError as exc:
                # A 409 is no loss: the write racing ours may be a takeover that fails. It
                # is raised: the renewer tries again next beat, confirm() commits nothing.
                if _code(exc) in _CHANGED | _GONE:
                    self._lost = (
                        f"the LAKE lock {self.uri} was taken over by another ingest "
                        "(this one did not renew it in time)"
                    )
                    log.warning("%s; this run will not commit", self._lost)
                    return False
                raise
            self._etag = reply["ETag"]
            return True

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self._renew_every_s):
            try:
                if not self.renew():
                    return
            except (ClientError, BotoCoreError) as exc:
                # S3 unreachable for a moment: the lease lasts lease_s, try again next beat.
                log.warning("could not renew the LAKE lock %s: %s", self.uri, exc)

    def confirm(self) -> None:
        """Renew now, or raise: called just before a commit (and a fold's writes), so that
        they happen with a whole lease ahead of them and never after a takeover.
        :class:`LeaseLostError` when it was taken over; :class:`LakeBusyError` when S3
        could not say (nothing is written on a lease that cannot be shown to be ours)."""
        try:
            renewed = self.renew()
        except (ClientError, BotoCoreError) as exc:
            raise LakeBusyError(f"could not renew the LAKE lock {self.uri}: {exc}") from exc
        if not renewed:
            raise LeaseLostError(self._lost or f"the LAKE lock {self.uri} is not held")

    # -- letting go ---------------------------------------------------------------
    def release(self) -> None:
        """Delete the lease object if it is still ours; never someone else's."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self._guard:
            etag, self._etag = self._etag, None
            if self._lost is not None or etag is None:
                if self._lost is not None:
                    log.warning("%s; left it to its new holder", self._lost)
                return
            try:
                self._client.delete_object(Bucket=self._bucket, Key=self._key, IfMatch=etag)
            except ClientError as exc:
                if _code(exc) in _LOST_RACE:
                    log.warning(
                        "the LAKE lock %s is no longer ours (taken over); left it to its "
                        "new holder",
                        self.uri,
                    )
                elif _code(exc) in _GONE:
                    log.warning("the LAKE lock %s was already gone at release", self.uri)
                else:
                    self._unreleased(exc)
            except BotoCoreError as exc:
                self._unreleased(exc)

    def _unreleased(self, error: Exception) -> None:
        # Not raised: this runs on the way out of every ingest, failed ones too, and must
        # not hide why they failed. The lease ends on its own.
        log.warning(
            "could not release the LAKE lock %s (%s): the next ingest waits until it is %.0f s old",
            self.uri,
            error,
            self._lease_s,
        )
