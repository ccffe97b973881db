"""The OCSP responder core: request bytes in, response bytes and log fields out.

No HTTP, no AWS, no wall clock: the store, the authorities and the clock are
passed in, so the Lambda handler, the local server and the tests drive the same
code. Every failure becomes an OCSP status (RFC 6960 2.3), never an exception.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pki.ocsp_request import MalformedRequestError, OcspRequest, check_answerable, parse_request
from pki.reasons import RevocationReason
from pki.serials import serial_hex
from pki.store.base import CertificateStore, CertStatus, StoreError
from responders.ocsp.authority import Authority, AuthorityIndex
from responders.ocsp.cache import CachedResponse, ResponseCache
from responders.ocsp.response import ResponseStatus, SingleAnswer, SingleStatus, unsuccessful

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(slots=True)  # built per request: not frozen, which constructs faster
class OcspResult:
    """What the HTTP layer needs to answer, and what goes into the access log."""

    body: bytes
    status: ResponseStatus
    cert_ids: tuple[dict[str, Any], ...] = ()
    nonce: bool = False
    cache_hit: bool = False
    this_update: datetime | None = None
    next_update: datetime | None = None
    etag: str | None = None
    error: str | None = None

    @property
    def cacheable(self) -> bool:
        """Only nonce-less successful responses may be shared by HTTP caches."""
        return self.etag is not None


@dataclass(frozen=True)
class ResponderSettings:
    validity: timedelta = timedelta(hours=1)
    refresh_margin: timedelta = timedelta(minutes=10)
    cache_entries: int = 200_000
    parse_memo_entries: int = 100_000

    def __post_init__(self) -> None:
        if self.validity <= timedelta(minutes=1):
            raise ValueError("OCSP validity must exceed one minute")
        if not timedelta(0) <= self.refresh_margin < self.validity:
            raise ValueError("refresh margin must be shorter than the validity")


def _log_cert_id(
    answer_or_id: SingleAnswer | Any, issuer_key_sha1: str | None, status: str | None
) -> dict[str, Any]:
    cert_id = answer_or_id.cert_id if isinstance(answer_or_id, SingleAnswer) else answer_or_id
    return {
        "hash_algorithm": cert_id.hash_algorithm,
        "issuer_name_hash": cert_id.issuer_name_hash.hex(),
        "issuer_key_hash": cert_id.issuer_key_hash.hex(),
        "serial": serial_hex(cert_id.serial_number),
        "issuer_key_sha1": issuer_key_sha1,
        "cert_status": status,
    }


@dataclass(slots=True)  # built per request: plain slots construct faster than frozen
class _Plan:
    """What a parsed, authorised request needs on every repeat: memoised per request bytes."""

    request: OcspRequest
    authority: Authority
    issuer_key_sha1: str
    cache_key: tuple[bytes, ...]
    serials: tuple[str, ...]


_Status = tuple[SingleStatus, datetime | None, RevocationReason | None]


class OcspResponder:
    def __init__(
        self,
        authorities: AuthorityIndex,
        store: CertificateStore,
        clock: Clock,
        settings: ResponderSettings | None = None,
    ) -> None:
        self._authorities = authorities
        self._store = store
        self._clock = clock
        self._settings = settings or ResponderSettings()
        self._cache = ResponseCache(self._settings.cache_entries)
        # Request bytes -> plan, or the constant answer to a bad request. Repeated GETs of
        # the same certificate skip parsing entirely.
        self._memo: dict[bytes, _Plan | OcspResult] = {}
        # (issuer, serial) -> status, so live (nonce) answers skip the store; dropped by
        # forget() exactly like cached responses, so it is never staler than they are.
        self._statuses: dict[tuple[str, str], _Status] = {}

    def forget(self, issuer_key_sha1: str, serial: str) -> None:
        """Drop cached answers about a certificate that changed in the store."""
        self._cache.invalidate(issuer_key_sha1, serial)
        self._statuses.pop((issuer_key_sha1, serial), None)

    # -- answering -------------------------------------------------------------
    def respond(self, data: bytes, now: datetime | None = None) -> OcspResult:
        plan = self._memo.get(data)
        if plan is None:
            plan = self._plan(data)
        if isinstance(plan, OcspResult):
            return plan
        moment = now or self._clock()
        try:
            if plan.request.nonce is not None:
                return self._fresh(plan, moment)
            return self._cached(plan, moment)
        except StoreError as exc:
            log.warning("certificate store unavailable: %s", exc)
            return OcspResult(
                unsuccessful(ResponseStatus.tryLater),
                ResponseStatus.tryLater,
                cert_ids=tuple(
                    _log_cert_id(c, plan.issuer_key_sha1, None) for c in plan.request.cert_ids
                ),
                nonce=plan.request.nonce is not None,
                error=f"store unavailable: {type(exc).__name__}",
            )

    def _plan(self, data: bytes) -> _Plan | OcspResult:
        plan = self._make_plan(data)
        if isinstance(plan, OcspResult) or plan.request.nonce is None:
            # Nonce requests are unique by design: memoising them would only evict.
            if len(self._memo) >= self._settings.parse_memo_entries:
                self._memo.clear()
            self._memo[data] = plan
        return plan

    def _make_plan(self, data: bytes) -> _Plan | OcspResult:
        try:
            request = check_answerable(parse_request(data))
        except MalformedRequestError as exc:
            return OcspResult(
                unsuccessful(ResponseStatus.malformedRequest),
                ResponseStatus.malformedRequest,
                error=str(exc),
            )
        found = [self._authorities.find(cert_id) for cert_id in request.cert_ids]
        first = found[0]
        if first is None or any(hit is None or hit[0] is not first[0] for hit in found):
            # RFC 6960 2.3: not authoritative for (all of) these certificates.
            return OcspResult(
                unsuccessful(ResponseStatus.unauthorized),
                ResponseStatus.unauthorized,
                cert_ids=tuple(
                    _log_cert_id(cid, hit[1] if hit else None, None)
                    for cid, hit in zip(request.cert_ids, found, strict=True)
                ),
                nonce=request.nonce is not None,
                error="issuer not served by this responder",
            )
        return _Plan(
            request=request,
            authority=first[0],
            issuer_key_sha1=first[1],
            cache_key=tuple(cert_id.der for cert_id in request.cert_ids),
            serials=tuple(serial_hex(c.serial_number) for c in request.cert_ids),
        )

    def _status(self, issuer_key_sha1: str, serial: str) -> _Status:
        key = (issuer_key_sha1, serial)
        status = self._statuses.get(key)
        if status is None:
            record = self._store.get(issuer_key_sha1, serial)
            if record is None:
                status = (SingleStatus.unknown, None, None)
            elif record.status is CertStatus.revoked:
                status = (SingleStatus.revoked, record.revoked_at, record.revocation_reason)
            else:
                status = (SingleStatus.good, None, None)
            if len(self._statuses) >= self._settings.cache_entries:
                self._statuses.clear()
            self._statuses[key] = status
        return status

    def _answers(self, plan: _Plan) -> tuple[SingleAnswer, ...]:
        return tuple(
            SingleAnswer(cert_id, *self._status(plan.issuer_key_sha1, serial))
            for cert_id, serial in zip(plan.request.cert_ids, plan.serials, strict=True)
        )

    def _window(self, now: datetime) -> tuple[datetime, datetime]:
        this_update = now.replace(microsecond=0)
        return this_update, this_update + self._settings.validity

    def _fresh(self, plan: _Plan, now: datetime) -> OcspResult:
        answers = self._answers(plan)
        this_update, next_update = self._window(now)
        body = plan.authority.signer.build(
            answers,
            produced_at=now,
            this_update=this_update,
            next_update=next_update,
            nonce=plan.request.nonce,
        )
        return OcspResult(
            body,
            ResponseStatus.successful,
            cert_ids=tuple(_log_cert_id(a, plan.issuer_key_sha1, a.status.value) for a in answers),
            nonce=True,
            this_update=this_update,
            next_update=next_update,
        )

    def _cached(self, plan: _Plan, now: datetime) -> OcspResult:
        entry = self._cache.get(plan.cache_key, now)
        hit = entry is not None
        if entry is None:
            answers = self._answers(plan)
            this_update, next_update = self._window(now)
            body = plan.authority.signer.build(
                answers, produced_at=now, this_update=this_update, next_update=next_update
            )
            entry = CachedResponse(
                body=body,
                log_cert_ids=tuple(
                    _log_cert_id(a, plan.issuer_key_sha1, a.status.value) for a in answers
                ),
                answers=answers,
                issuer_key_sha1=plan.issuer_key_sha1,
                this_update=this_update,
                next_update=next_update,
                refresh_at=next_update - self._settings.refresh_margin,
                etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            )
            self._cache.put(plan.cache_key, entry, plan.serials)
        return OcspResult(
            entry.body,
            ResponseStatus.successful,
            cert_ids=entry.log_cert_ids,
            cache_hit=hit,
            this_update=entry.this_update,
            next_update=entry.next_update,
            etag=entry.etag,
        )
