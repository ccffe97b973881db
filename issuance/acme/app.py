"""The ACME server over HTTP: a FastAPI app mounted at ``/acme`` on the issuance
service. Only HTTP lives here: the body's type and size, the URL a JWS must name,
Replay-Nonce on every response (RFC 8555 6.5), Link rel="index", Location, and one
place that turns ``AcmeError`` into ``application/problem+json``.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from josepy.jwk import JWK
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from issuance.acme.accounts import Accounts
from issuance.acme.certificates import EXPLANATION_PATH, Certificates
from issuance.acme.jws import SignedRequest, parse_request
from issuance.acme.orders import Orders
from issuance.acme.problems import (
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    SERVER_INTERNAL,
    TOO_LARGE,
    UNAVAILABLE,
    UNSUPPORTED_MEDIA,
    AcmeError,
)
from issuance.acme.resources import Reply, Urls
from issuance.acme.settings import AcmeSettings
from issuance.acme.state import AcmeState
from pki.store.base import StoreUnavailableError

log = logging.getLogger(__name__)
JOSE = "application/jose+json"
PROBLEM = "application/problem+json"
PURGE_EVERY = 256  # nonces issued between purges of expired state


class Nonces:
    """Single-use nonces with an expiry, in the shared state file (so any worker
    accepts a nonce another issued)."""

    def __init__(self, store: AcmeState, lifetime: timedelta, clock: Callable[[], datetime]):
        self._store = store
        self._lifetime = lifetime
        self._clock = clock
        self._issued = 0

    def new(self) -> str:
        now = self._clock()
        self._issued += 1
        if self._issued % PURGE_EVERY == 0:
            self._store.purge(now, keep_orders_until=now - timedelta(days=30))
        value = secrets.token_urlsafe(16)
        self._store.add_nonce(value, now + self._lifetime)
        return value

    def take(self, value: str) -> bool:
        return self._store.take_nonce(value, self._clock())


class Http:
    """What every ACME response carries: a fresh Replay-Nonce, Link rel="index",
    Location and Retry-After when the reply has them; errors as problem documents."""

    def __init__(self, nonces: Nonces) -> None:
        self.nonces = nonces

    @staticmethod
    def urls(request: Request) -> Urls:
        root = request.scope.get("root_path", "")
        return Urls(f"{request.url.scheme}://{request.url.netloc}{root}")

    def headers(self, urls: Urls, reply: Reply | None = None) -> dict[str, str]:
        found = {"Replay-Nonce": self.nonces.new(), "Cache-Control": "no-store"}
        links = [f'<{urls.of("directory")}>;rel="index"']
        if reply is not None:
            links += [f'<{url}>;rel="{rel}"' for url, rel in reply.links]
            if reply.location:
                found["Location"] = reply.location
            if reply.retry_after:
                found["Retry-After"] = str(reply.retry_after)
            found.update(reply.extra_headers)
        found["Link"] = ", ".join(links)
        return found

    def render(self, request: Request, reply: Reply) -> Response:
        content = json.dumps(reply.body) if isinstance(reply.body, dict) else reply.body or b""
        return Response(
            content,
            status_code=reply.status,
            media_type=reply.content_type,
            headers=self.headers(self.urls(request), reply),
        )

    def problem(self, request: Request, error: AcmeError) -> Response:
        found = self.headers(self.urls(request))
        if error.retry_after:
            found["Retry-After"] = str(error.retry_after)
        if error.location:
            found["Location"] = error.location
        content = json.dumps(error.body(), ensure_ascii=True)
        return Response(content, status_code=error.kind.status, media_type=PROBLEM, headers=found)


def create_acme_app(
    *,
    settings: AcmeSettings,
    store: AcmeState,
    accounts: Accounts,
    orders: Orders,
    certificates: Certificates,
    clock: Callable[[], datetime],
) -> FastAPI:
    app = FastAPI(title="certsight ACME", openapi_url=None, docs_url=None, redoc_url=None)
    http = Http(Nonces(store, timedelta(seconds=settings.nonce_lifetime_seconds), clock))
    _errors(app, http)

    async def handle(request: Request, action: Callable[[SignedRequest, Urls], Reply]) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != JOSE:
            raise AcmeError(UNSUPPORTED_MEDIA, f"send {JOSE}, not {media or 'no content type'}")
        body = await _read(request, settings.max_body_bytes)
        urls = http.urls(request)
        url = urls.base + request.url.path.removeprefix(request.scope.get("root_path", ""))

        def account_key(kid: str) -> JWK:
            return accounts.key_of(kid, urls)

        def run() -> Reply:
            verified = parse_request(
                body, url=url, take_nonce=http.nonces.take, account_key=account_key
            )
            return action(verified, urls)

        return http.render(request, await run_in_threadpool(run))

    @app.get("/directory")
    async def directory(request: Request) -> Response:
        urls = http.urls(request)
        body: dict[str, Any] = {name: urls.of(path) for name, path in DIRECTORY}
        body["meta"] = {"externalAccountRequired": settings.eab_required}
        return Response(json.dumps(body), media_type="application/json")

    @app.api_route("/new-nonce", methods=["GET", "HEAD"])
    async def new_nonce(request: Request) -> Response:
        status = 204 if request.method == "GET" else 200
        return Response(status_code=status, headers=http.headers(http.urls(request)))

    @app.get("/renewal-info/{cert_id}")
    async def renewal_info(request: Request, cert_id: str) -> Response:
        reply = await run_in_threadpool(certificates.renewal_info, cert_id, http.urls(request))
        headers = {"Retry-After": str(reply.retry_after)}
        return Response(json.dumps(reply.body), media_type="application/json", headers=headers)

    @app.get(f"/{EXPLANATION_PATH}/{{cert_id}}")
    async def renewal_explanation(request: Request, cert_id: str) -> Response:
        reply = await run_in_threadpool(certificates.renewal_explanation, cert_id)
        # A person's browser opens it: never sniffed into HTML, whatever a reason says.
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
        return Response(reply.body, media_type=reply.content_type, headers=headers)

    # One POST route per resource, each handing the verified request to the core.
    routes: dict[str, Callable[..., Reply]] = {
        "/new-account": accounts.new_account,
        "/key-change": accounts.key_change,
        "/account/{key}": accounts.update,
        "/account/{key}/orders": accounts.orders,
        "/new-order": orders.new_order,
        "/order/{key}": orders.order,
        "/order/{key}/finalize": orders.finalize,
        "/authz/{key}": orders.authz,
        "/chall/{key}/{kind}": orders.challenge,
        "/cert/{key}": orders.certificate,
        "/revoke-cert": certificates.revoke,
    }
    for path, action in routes.items():
        app.add_api_route(path, _route(handle, action), methods=["POST"])
    return app


DIRECTORY = (
    ("newNonce", "new-nonce"),
    ("newAccount", "new-account"),
    ("newOrder", "new-order"),
    ("revokeCert", "revoke-cert"),
    ("keyChange", "key-change"),
    ("renewalInfo", "renewal-info"),
)


def _route(
    handle: Callable[[Request, Callable[[SignedRequest, Urls], Reply]], Awaitable[Response]],
    action: Callable[..., Reply],
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint: path parameters (``key``, ``kind``) go to the action between the
    request and the URLs, in that order."""

    async def endpoint(request: Request) -> Response:
        params = request.path_params
        extra = [params[name] for name in ("key", "kind") if name in params]
        return await handle(request, lambda signed, urls: action(signed, *extra, urls))

    return endpoint


def _errors(app: FastAPI, http: Http) -> None:
    @app.exception_handler(AcmeError)
    async def _acme(request: Request, exc: AcmeError) -> Response:
        return http.problem(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        kind = METHOD_NOT_ALLOWED if exc.status_code == 405 else NOT_FOUND
        detail = f"{request.method} {request.url.path}: {exc.detail}"
        return http.problem(request, AcmeError(kind, detail))

    @app.exception_handler(StoreUnavailableError)
    async def _store(request: Request, exc: StoreUnavailableError) -> Response:
        error = AcmeError(UNAVAILABLE, "the certificate store cannot be reached", retry_after=30)
        return http.problem(request, error)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.exception("ACME failed on %s %s", request.method, request.url.path)
        return http.problem(request, AcmeError(SERVER_INTERNAL, "an internal error; it was logged"))


async def _read(request: Request, limit: int) -> bytes:
    """The body, capped as it arrives (a lying Content-Length or chunking cannot make
    the server buffer more than ``limit``)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise AcmeError(TOO_LARGE, f"bodies are capped at {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise AcmeError(TOO_LARGE, f"bodies are capped at {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
