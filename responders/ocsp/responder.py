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

from responders.ocsp.authority import Authority, AuthorityIndex
from responders.ocsp.cache import CachedResponse, ResponseCache
from responders.ocsp.request import MalformedRequestError, OcspRequest, parse_request
from responders.ocsp.response import ResponseStatus, SingleAnswer, SingleStatus, unsuccessful
from responders.pki.serials import serial_hex
from responders.store.base import CertificateStore, CertStatus, StoreError

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
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
        self._memo: dict[bytes, OcspRequest | MalformedRequestError] = {}

    def forget(self, issuer_key_sha1: str, serial: str) -> None:
        """Drop cached answers about a certificate that changed in the store."""
        self._cache.invalidate(issuer_key_sha1, serial)

    # -- answering -------------------------------------------------------------
    def respond(self, data: bytes) -> OcspResult:
        request = self._parse(data)
        if isinstance(request, MalformedRequestError):
            return OcspResult(
                unsuccessful(ResponseStatus.malformedRequest),
                ResponseStatus.malformedRequest,
                error=str(request),
            )
        found = [self._authorities.find(cert_id) for cert_id in request.cert_ids]
        authority_hit = found[0]
        if authority_hit is None or any(
            hit is None or hit[0] is not authority_hit[0] for hit in found
        ):
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
        authority, issuer_sha1 = authority_hit
        try:
            if request.nonce is not None:
                return self._fresh(request, authority, issuer_sha1)
            return self._cached(request, authority, issuer_sha1)
        except StoreError as exc:
            log.warning("certificate store unavailable: %s", exc)
            return OcspResult(
                unsuccessful(ResponseStatus.tryLater),
                ResponseStatus.tryLater,
                cert_ids=tuple(_log_cert_id(c, issuer_sha1, None) for c in request.cert_ids),
                nonce=request.nonce is not None,
                error=f"store unavailable: {type(exc).__name__}",
            )

    def _parse(self, data: bytes) -> OcspRequest | MalformedRequestError:
        memo = self._memo.get(data)
        if memo is not None:
            return memo
        try:
            parsed: OcspRequest | MalformedRequestError = parse_request(data)
        except MalformedRequestError as exc:
            parsed = exc
        if isinstance(parsed, MalformedRequestError) or parsed.nonce is None:
            if len(self._memo) >= self._settings.parse_memo_entries:
                self._memo.clear()
            self._memo[data] = parsed
        return parsed

    def _answers(self, request: OcspRequest, issuer_sha1: str) -> tuple[SingleAnswer, ...]:
        answers = []
        for cert_id in request.cert_ids:
            record = self._store.get(issuer_sha1, serial_hex(cert_id.serial_number))
            if record is None:
                answers.append(SingleAnswer(cert_id, SingleStatus.unknown))
            elif record.status is CertStatus.revoked:
                answers.append(
                    SingleAnswer(
                        cert_id, SingleStatus.revoked, record.revoked_at, record.revocation_reason
                    )
                )
            else:
                answers.append(SingleAnswer(cert_id, SingleStatus.good))
        return tuple(answers)

    def _window(self) -> tuple[datetime, datetime, datetime]:
        now = self._clock()
        this_update = now.replace(microsecond=0)
        return now, this_update, this_update + self._settings.validity

    def _fresh(self, request: OcspRequest, authority: Authority, issuer_sha1: str) -> OcspResult:
        answers = self._answers(request, issuer_sha1)
        now, this_update, next_update = self._window()
        body = authority.signer.build(
            answers,
            produced_at=now,
            this_update=this_update,
            next_update=next_update,
            nonce=request.nonce,
        )
        return OcspResult(
            body,
            ResponseStatus.successful,
            cert_ids=tuple(_log_cert_id(a, issuer_sha1, a.status.value) for a in answers),
            nonce=True,
            this_update=this_update,
            next_update=next_update,
        )

    def _cached(self, request: OcspRequest, authority: Authority, issuer_sha1: str) -> OcspResult:
        key = tuple(cert_id.der for cert_id in request.cert_ids)
        now = self._clock()
        entry = self._cache.get(key, now)
        hit = entry is not None
        if entry is None:
            answers = self._answers(request, issuer_sha1)
            now, this_update, next_update = self._window()
            body = authority.signer.build(
                answers, produced_at=now, this_update=this_update, next_update=next_update
            )
            entry = CachedResponse(
                body=body,
                log_cert_ids=tuple(_log_cert_id(a, issuer_sha1, a.status.value) for a in answers),
                answers=answers,
                issuer_key_sha1=issuer_sha1,
                this_update=this_update,
                next_update=next_update,
                refresh_at=next_update - self._settings.refresh_margin,
                etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            )
            self._cache.put(key, entry, (serial_hex(c.serial_number) for c in request.cert_ids))
        return OcspResult(
            entry.body,
            ResponseStatus.successful,
            cert_ids=entry.log_cert_ids,
            cache_hit=hit,
            this_update=entry.this_update,
            next_update=entry.next_update,
            etag=entry.etag,
        )
