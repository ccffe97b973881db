"""The HTTP layer of the validation services, free of any server or Lambda type.

This is the one place that knows HTTP: routes, GET decoding, POST size caps,
Cache-Control / ETag / Last-Modified / Expires, 304s, and one access-log record
per request. Adapters (ASGI, Lambda) only translate their request and reply
shapes to these.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, formatdate
from typing import Any

from pki.ocsp_getpath import GetDecodeError, decode_get_request
from pki.rawlog import event_time
from responders.crl.server import CrlServer
from responders.ocsp.responder import OcspResponder, OcspResult
from responders.ocsp.response import ResponseStatus, unsuccessful

OCSP_RESPONSE = "application/ocsp-response"
_OCSP_TYPE = (b"content-type", OCSP_RESPONSE.encode())
_TEXT_TYPE = (b"content-type", b"text/plain")
MAX_BODY = 16 * 1024  # an OCSP request is a few hundred octets; bigger is abuse
_NO_STORE = (b"cache-control", b"no-store")
_TRY_LATER = ResponseStatus.tryLater
# Longest a CDN keeps an answer fresh: a revocation reaches clients behind it within this
# plus the few seconds the store's change feed takes; smaller means more origin requests
# (docs/ocsp.md "Cache headers").
DEFAULT_CDN_MAX_AGE = 300


# Not frozen: these are built for every request, and frozen dataclasses construct slower.
@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str  # as sent, percent-escapes intact, without the query string
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    client_ip: str
    started: float = field(default_factory=time.perf_counter)
    body_too_large: bool = False
    request_id: str | None = None


Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class HttpReply:
    """Headers are encoded already: servers want bytes, and most values here are constants
    or memoised per response, so encoding them per request would be wasted work."""

    status: int
    headers: Headers
    body: bytes = b""


@dataclass(slots=True)
class Exchange:
    """A reply and the access-log record it produced (``log_kind`` None: not logged)."""

    reply: HttpReply
    log_kind: str | None
    record: dict[str, Any] | None


def _http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


def check_cdn_max_age(value: object) -> int:
    """The CDN max-age cap, refused unless a positive whole number of seconds: a zero
    cap would send every request to the origin, and a fraction cannot be said in
    ``max-age``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"the CDN max-age cap must be a whole number of seconds, got {value!r}")
    if value < 1:
        raise ValueError(f"the CDN max-age cap must be at least 1 second, got {value}")
    return value


class _CacheHeaders:
    """Cache headers that let a CDN ride out an origin outage (issue 15).

    ``max-age`` is the cap (or less, near the end of the response's freshness), so a
    revocation reaches clients behind a CDN within the cap; ``stale-if-error`` covers the
    rest of the response's validity, so an edge keeps answering with the signed bytes
    it holds while the origin fails, up to nextUpdate and never past it: RFC 5861 4
    counts stale-if-error from the end of max-age, so the two add up to the seconds
    left until nextUpdate. When nothing is left past max-age, ``must-revalidate`` is
    sent instead (RFC 9111 5.2.2.2 forbids serving stale under it, which is right for
    bytes about to expire). ``Expires`` agrees with max-age for HTTP/1.0 caches.

    The fixed part (ETag, Last-Modified, the freshness and validity instants) is built
    once per response, the same bytes being served thousands of times; ``Expires`` at
    the cap changes once a second and is shared by every response. Per request this
    costs two subtractions and one small bytes format, as the countdown before it did.
    """

    def __init__(self, cap: int = DEFAULT_CDN_MAX_AGE, limit: int = 100_000) -> None:
        self._cap = check_cdn_max_age(cap)
        self._limit = limit
        # etag -> (ETag and Last-Modified, fresh until, valid until, Expires at fresh until)
        self._fixed: dict[str, tuple[Headers, float, float, bytes]] = {}
        self._capped_expires: tuple[int, bytes] = (-1, b"")  # (second, Expires at +cap)

    def __call__(
        self,
        etag: str,
        last_modified: datetime,
        fresh_until: datetime,
        valid_until: datetime,
        now: datetime,
    ) -> Headers:
        """``fresh_until``: the latest a cache should consider the response fresh;
        ``valid_until``: the response's own nextUpdate (the bytes are valid until then)."""
        fixed = self._fixed.get(etag)
        if fixed is None:
            if len(self._fixed) >= self._limit:
                self._fixed.clear()
            fixed = (
                [
                    (b"etag", etag.encode("latin-1")),
                    (b"last-modified", _http_date(last_modified).encode("latin-1")),
                ],
                fresh_until.timestamp(),
                valid_until.timestamp(),
                _http_date(fresh_until).encode("latin-1"),
            )
            self._fixed[etag] = fixed
        moment = now.timestamp()
        fresh = int(fixed[1] - moment)
        if fresh >= self._cap:
            max_age = self._cap
            expires = self._expires_at_cap(int(moment))
        else:
            max_age = max(0, fresh)
            expires = fixed[3]
        stale = int(fixed[2] - moment) - max_age
        if stale > 0:
            control = b"max-age=%d, public, no-transform, stale-if-error=%d" % (max_age, stale)
        else:
            control = b"max-age=%d, public, no-transform, must-revalidate" % max_age
        return [(b"cache-control", control), *fixed[0], (b"expires", expires)]

    def _expires_at_cap(self, second: int) -> bytes:
        held = self._capped_expires
        if held[0] != second:
            # One tuple, replaced whole: a racing thread at worst formats it twice.
            held = (second, formatdate(second + self._cap, usegmt=True).encode("latin-1"))
            self._capped_expires = held
        return held[1]


class ValidationService:
    def __init__(
        self,
        *,
        ocsp: OcspResponder | None,
        crl: CrlServer | None,
        ca_certificates: Mapping[str, bytes],
        clock: Callable[[], datetime],
        adapter: str,
        max_body: int = MAX_BODY,
        cdn_max_age: int = DEFAULT_CDN_MAX_AGE,
    ) -> None:
        if max_body < 256:
            raise ValueError("a POST cap under 256 octets would refuse real OCSP requests")
        self._ocsp = ocsp
        self._crl = crl
        self._ca_certificates = dict(ca_certificates)
        self._clock = clock
        self._adapter = adapter
        self.max_body = max_body
        self._cache_headers = _CacheHeaders(cdn_max_age)
        # Request ids: a random per-process prefix and a counter, unique across workers
        # and far cheaper than a UUID per request.
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count()
        # OCSP answers tryLater for want of a status: a counter, read by the local
        # server's /metrics (metrics.py); a plain int, so Lambda pays nothing for it.
        self.try_later = 0

    # -- routing ---------------------------------------------------------------
    def handle(self, request: HttpRequest) -> Exchange:
        path = request.path
        method = "GET" if request.method == "HEAD" else request.method
        if path == "/ocsp" or path.startswith("/ocsp/"):
            if self._ocsp is None:
                exchange = self._plain(request, 404, b"OCSP is not served here\n", "ocsp")
            else:
                exchange = self._ocsp_exchange(request, method)
        elif path.startswith("/crl/"):
            exchange = self._crl_exchange(request, method)
        elif path.startswith("/ca/"):
            exchange = self._ca_exchange(request, method)
        elif path == "/healthz" and method == "GET":
            return Exchange(HttpReply(200, [_TEXT_TYPE], b"ok\n"), None, None)
        else:
            exchange = self._plain(request, 404, b"not found\n", "crl")
        if request.method == "HEAD":
            exchange.reply = HttpReply(exchange.reply.status, exchange.reply.headers)
            if exchange.record is not None:
                exchange.record["response_bytes"] = 0
        return exchange

    # -- OCSP ------------------------------------------------------------------
    def _ocsp_exchange(self, request: HttpRequest, method: str) -> Exchange:
        assert self._ocsp is not None
        now = self._clock()
        if method == "POST":
            if request.body_too_large or len(request.body) > self.max_body:
                refused = self._plain(
                    request, 413, b"OCSP request body too large\n", "ocsp", error="body too large"
                )
                declared = request.headers.get("content-length", "")
                if refused.record is not None and declared.isdigit():
                    refused.record["request_bytes"] = int(declared)  # what the client sent
                return refused
            result = self._ocsp.respond(request.body, now)
        elif method == "GET":
            try:
                der = decode_get_request(request.path[len("/ocsp") :])
            except GetDecodeError as exc:
                result = OcspResult(
                    unsuccessful(ResponseStatus.malformedRequest),
                    ResponseStatus.malformedRequest,
                    error=str(exc),
                )
            else:
                result = self._ocsp.respond(der, now)
        else:
            return self._plain(
                request, 405, b"use GET or POST\n", "ocsp", extra=[(b"allow", b"GET, POST")]
            )
        if result.status is _TRY_LATER:  # the core's only tryLater: no status to be had
            self.try_later += 1
        headers = [_OCSP_TYPE]
        status, body = 200, result.body
        if result.cacheable:
            assert result.etag and result.this_update and result.next_update
            next_update = result.next_update
            headers += self._cache_headers(
                result.etag, result.this_update, next_update, next_update, now
            )
            if method == "GET" and _etag_matches(request.headers.get("if-none-match"), result.etag):
                status, body = 304, b""
        else:
            headers.append(_NO_STORE)
        record = self._record(request, "ocsp", status, len(body), now)
        record.update(
            response_status=result.status.name,
            nonce=result.nonce,
            cache_hit=result.cache_hit,
            cert_ids=result.cert_ids,
            error=result.error,
        )
        return Exchange(HttpReply(status, headers, body), "ocsp", record)

    # -- CRL and CA certificates ----------------------------------------------
    def _crl_exchange(self, request: HttpRequest, method: str) -> Exchange:
        if method != "GET":
            return self._plain(request, 405, b"use GET\n", "crl", extra=[(b"allow", b"GET, HEAD")])
        name = request.path[len("/crl/") :]
        published = None
        if self._crl is not None and name.endswith(".crl"):
            published = self._crl.current(name[: -len(".crl")])
        if published is None:
            return self._plain(request, 404, b"no such CRL\n", "crl")
        crl = published
        headers = [(b"content-type", b"application/pkix-crl")]
        # Fresh (max-age) no longer than ``fresh_until`` (the CRL server's own bound, an
        # hour after thisUpdate by default), stale-if-error up to the CRL's nextUpdate:
        # the bytes stay a valid CRL until then, whatever the origin's state.
        headers += self._cache_headers(
            published.etag, crl.this_update, published.fresh_until, crl.next_update, self._clock()
        )
        status, body = 200, crl.der
        if _etag_matches(request.headers.get("if-none-match"), published.etag):
            status, body = 304, b""
        record = self._record(request, "crl", status, len(body))
        record.update(
            object="crl",
            crl_name=name[: -len(".crl")],
            crl_number=crl.number,
            issuer_key_sha1=published.issuer_key_sha1,
            not_modified=status == 304,
        )
        return Exchange(HttpReply(status, headers, body), "crl", record)

    def _ca_exchange(self, request: HttpRequest, method: str) -> Exchange:
        name = request.path[len("/ca/") :].removesuffix(".crt")
        der = self._ca_certificates.get(name)
        if method != "GET":
            return self._plain(request, 405, b"use GET\n", "crl", extra=[(b"allow", b"GET, HEAD")])
        if der is None:
            return self._plain(request, 404, b"no such CA\n", "crl")
        headers = [
            (b"content-type", b"application/pkix-cert"),
            (b"cache-control", b"max-age=86400, public"),
        ]
        record = self._record(request, "crl", 200, len(der))
        record.update(object="ca-certificate", ca_name=name)
        return Exchange(HttpReply(200, headers, der), "crl", record)

    # -- shared ----------------------------------------------------------------
    def _plain(
        self,
        request: HttpRequest,
        status: int,
        body: bytes,
        kind: str,
        *,
        extra: Headers | None = None,
        error: str | None = None,
    ) -> Exchange:
        headers = [_TEXT_TYPE, _NO_STORE, *(extra or [])]
        record = self._record(request, kind, status, len(body))
        if error:
            record["error"] = error
        return Exchange(HttpReply(status, headers, body), kind, record)

    def _record(
        self,
        request: HttpRequest,
        kind: str,
        status: int,
        size: int,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """The fields every access-log record has; names are the LAKE's (docs/access-logs.md)."""
        return {
            "log": kind,
            "event_time": event_time(now or self._clock()),
            "request_id": request.request_id or f"{self._id_prefix}{next(self._ids):010x}",
            "cf_request_id": request.headers.get("x-amz-cf-id"),
            "source": "lambda",
            "adapter": self._adapter,
            "client_ip": request.client_ip,
            "user_agent": request.headers.get("user-agent"),
            "http_method": request.method,
            "path": request.path[:512],
            "http_status": status,
            "request_bytes": len(request.body),
            "response_bytes": size,
            "latency_ms": int((time.perf_counter() - request.started) * 1_000_000) / 1000,
        }
