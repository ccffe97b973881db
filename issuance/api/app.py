"""The issuance API over HTTP: routes, authentication, problem+json. No policy here.

One FastAPI app serves both adapters: uvicorn locally (``certsight serve issuance``,
with TLS so that renewal can authenticate by client certificate) and the Lambda
handler behind a Function URL with IAM auth, where the caller is the IAM principal
the URL's authorizer verified. Every refusal is ``application/problem+json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from cryptography import x509
from fastapi import Depends, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from issuance.api.guard import RequestGuard
from issuance.api.models import (
    CertificateResponse,
    IssueBody,
    OrderResponse,
    ProblemResponse,
    ProfileResponse,
    RenewBody,
    RevokeBody,
)
from issuance.policy import Grant
from issuance.problems import (
    CONTENT_TYPE,
    MALFORMED_REQUEST,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    STORE_UNAVAILABLE,
    UNAUTHORIZED,
    Problem,
    ProblemType,
)
from issuance.service import IssuanceService, IssueRequest
from issuance.settings import PrincipalPolicy
from issuance.tokens import TokenStore
from issuance.views import CertificateView, OrderView
from pki.reasons import ReasonError, RevocationReason
from pki.store.base import StoreUnavailableError

API_VERSION = "1.0.0"
_PROBLEM = {"model": ProblemResponse, "content": {CONTENT_TYPE: {}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, **_PROBLEM}
    for status, description in (
        (400, "malformed request, CSR, key, validity or profile"),
        (401, "no or unknown credentials"),
        (403, "name not allowed, or not the caller's"),
        (404, "no such certificate or order"),
        (413, "body too large"),
        (415, "body is not application/json"),
        (422, "the CA refused"),
        (429, "rate limited (Retry-After)"),
        (503, "no CA backend available (Retry-After)"),
    )
}


def problem_response(problem: Problem, instance: str | None = None) -> Response:
    headers = {"Retry-After": str(problem.retry_after)} if problem.retry_after else {}
    if problem.kind.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="certsight"'
    # ASCII with escapes: a problem may quote what the caller sent, lone surrogates too
    content = json.dumps(problem.body(instance), ensure_ascii=True).encode("ascii")
    return Response(
        content, status_code=problem.kind.status, media_type=CONTENT_TYPE, headers=headers
    )


def create_app(
    service: IssuanceService,
    tokens: TokenStore,
    *,
    clock: Callable[[], datetime],
    principals: Mapping[str, PrincipalPolicy] | None = None,
    max_body_bytes: int = 64 * 1024,
) -> FastAPI:
    by_arn = {policy.arn: (key, policy) for key, policy in (principals or {}).items()}
    app = FastAPI(
        title="certsight issuance API",
        version=API_VERSION,
        openapi_url="/v1/openapi.json",
        docs_url=None,  # Swagger UI loads assets from a CDN: not on a closed network
        redoc_url=None,
    )

    app.state.tokens = tokens
    app.state.clock = clock
    app.state.principals = by_arn

    def answer(result: CertificateView | OrderView, created: bool = True) -> JSONResponse:
        if isinstance(result, CertificateView):
            return JSONResponse(result.body(), status_code=201 if created else 200)
        if result.status == "invalid":
            return JSONResponse(result.body(), status_code=200)
        return JSONResponse(
            result.body(),
            status_code=202,
            headers={
                "Retry-After": str(result.retry_after),
                "Location": f"/v1/orders/{result.order_id}",
            },
        )

    # -- routes -------------------------------------------------------------------------
    @app.post(
        "/v1/certificates",
        status_code=201,
        response_model=CertificateResponse,
        responses={202: {"model": OrderResponse, "description": "issued later"}, **_ERRORS},
        summary="Issue a certificate for a CSR under a profile",
    )
    async def issue(body: IssueBody, grant: Caller) -> JSONResponse:
        request = IssueRequest(
            csr=body.csr,
            profile=body.profile,
            sans=tuple(body.sans) if body.sans is not None else None,
            validity_days=body.validity_days,
        )
        if service.runs_locally(request.profile):
            # CPU-bound and short (a key file signs in about a millisecond): on the event
            # loop, since a thread hand-off would cost as much as the signature.
            return answer(service.issue(request, grant))
        return answer(await run_in_threadpool(service.issue, request, grant))

    @app.post(
        "/v1/certificates/renew",
        status_code=201,
        response_model=CertificateResponse,
        responses={202: {"model": OrderResponse, "description": "issued later"}, **_ERRORS},
        summary="Renew the client certificate presented over mutual TLS, with a new key",
    )
    async def renew(body: RenewBody, request: Request) -> JSONResponse:
        presented = _client_certificate(request)
        return answer(await run_in_threadpool(service.renew, presented, body.csr))

    @app.get(
        "/v1/orders/{order_id}",
        response_model=CertificateResponse,
        responses={202: {"model": OrderResponse}, **_ERRORS},
        summary="Collect an order",
    )
    async def order(order_id: OrderId, request: Request) -> JSONResponse:
        if "authorization" in request.headers or not _has_client_certificate(request):
            requester = (await caller(request)).requester
        else:  # a renewal's order, collected with the certificate it renews
            presented = _client_certificate(request)
            requester = await run_in_threadpool(service.requester_of, presented)
        view = await run_in_threadpool(service.order, order_id, requester)
        return answer(view, created=False)

    @app.get(
        "/v1/certificates/{issuer}/{serial}",
        response_model=CertificateResponse,
        responses=_ERRORS,
        summary="Status, certificate and renewal window",
    )
    async def certificate(issuer: Issuer, serial: Serial, request: Request) -> JSONResponse:
        # Any authenticated caller may read: certificates are public documents. A token,
        # or (the agent's renewal timer, which keeps no token) a client certificate this
        # service issued, presented over mutual TLS.
        if "authorization" in request.headers or not _has_client_certificate(request):
            await caller(request)
        else:
            await run_in_threadpool(service.requester_of, _client_certificate(request))
        return answer(service.certificate(issuer.lower(), serial.lower()), created=False)

    @app.post(
        "/v1/certificates/{issuer}/{serial}/revoke",
        response_model=CertificateResponse,
        responses=_ERRORS,
        summary="Revoke with an RFC 5280 reason",
    )
    async def revoke(
        issuer: Issuer, serial: Serial, body: RevokeBody, grant: Caller
    ) -> JSONResponse:
        try:
            reason = RevocationReason.parse(str(body.reason))
        except ReasonError as exc:
            from issuance.problems import BAD_REASON

            raise Problem(BAD_REASON, str(exc)) from None
        view = await run_in_threadpool(
            service.revoke, issuer.lower(), serial.lower(), reason, grant
        )
        return answer(view, created=False)

    @app.get("/v1/profiles", response_model=list[ProfileResponse], responses=_ERRORS)
    async def profiles(grant: Caller) -> list[dict[str, Any]]:
        del grant
        return [
            {
                "name": name,
                **profile.model_dump(exclude={"max_validity_days"}),
                "max_validity_days": profile.upper_validity_days,
            }
            for name, profile in service.profiles.items()
        ]

    @app.get("/v1/cas", responses=_ERRORS, summary="The CA backends and whether they are up")
    async def cas(grant: Caller) -> list[dict[str, Any]]:
        del grant
        return await run_in_threadpool(service.describe_cas)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # -- errors as problem+json ---------------------------------------------------------
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(exc, request.url.path)

    @app.exception_handler(StoreUnavailableError)
    async def _store_down(request: Request, exc: StoreUnavailableError) -> Response:
        problem = Problem(
            STORE_UNAVAILABLE, "the certificate store cannot be reached; retry", retry_after=30
        )
        return problem_response(problem, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return problem_response(
            Problem(MALFORMED_REQUEST, _validation_detail(exc)), request.url.path
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        kinds = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}
        kind = kinds.get(exc.status_code) or ProblemType("http", str(exc.detail), exc.status_code)
        return problem_response(Problem(kind, str(exc.detail)), request.url.path)

    # /acme/ (issuance.acme, mounted by mount_acme) checks its own bodies: ACME's type
    # and errors differ from the API's.
    app.add_middleware(RequestGuard, max_body_bytes=max_body_bytes, pass_through=("/acme/",))
    return app


async def caller(request: Request) -> Grant:
    """Who is asking: the IAM principal the Function URL verified (in Lambda), else the
    bearer token."""
    state = request.app.state
    event = request.scope.get("aws.event")
    if isinstance(event, dict):
        arn = _principal_arn(event)
        found = state.principals.get(arn or "") or state.principals.get(_role_of(arn or ""))
        if found is None:
            raise Problem(UNAUTHORIZED, "this IAM principal has no issuance policy", principal=arn)
        key, policy = found
        return Grant.build(f"iam:{key}", policy.allow, policy.profiles, policy.rate_limit)
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Problem(UNAUTHORIZED, "send Authorization: Bearer <token>")
    tokens: TokenStore = state.tokens
    info = tokens.authenticate(credential.strip(), state.clock())
    if info is None:
        raise Problem(UNAUTHORIZED, "the token is unknown, revoked or expired")
    return info.grant()


Caller = Annotated[Grant, Depends(caller)]
Issuer = Annotated[
    str, Path(pattern=r"^[0-9a-fA-F]{40}$", description="the CA's issuer_key_sha1, hex")
]
Serial = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{1,40}$", description="serial, hex")]
OrderId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="an order id")]


def _principal_arn(event: Mapping[str, Any]) -> str | None:
    context = event.get("requestContext") or {}
    iam = (context.get("authorizer") or {}).get("iam") or {}
    arn = iam.get("userArn")
    return str(arn) if arn else None


def _role_of(arn: str) -> str:
    """A role session (``arn:aws:sts::1:assumed-role/agent/i-0abc``) as the role it
    assumed (``arn:aws:iam::1:role/agent``), the ARN a policy names. A role's path
    is not in a session ARN, so policies name roles without one."""
    prefix, _, rest = arn.partition(":assumed-role/")
    if not rest or not prefix.startswith("arn:") or ":sts::" not in prefix:
        return ""
    role = rest.split("/", 1)[0]
    partition_and_account = prefix.replace(":sts::", ":iam::", 1)
    return f"{partition_and_account}:role/{role}"


def _has_client_certificate(request: Request) -> bool:
    tls = (request.scope.get("extensions") or {}).get("tls") or {}
    event = request.scope.get("aws.event")
    mtls = isinstance(event, dict) and "authentication" in (event.get("requestContext") or {})
    return bool(tls.get("client_cert_chain")) or mtls


def _client_certificate(request: Request) -> x509.Certificate:
    """The leaf the client authenticated with: the ASGI TLS extension, which
    ``issuance.api.tls`` fills in for uvicorn, or API Gateway's mutual-TLS context."""
    tls = (request.scope.get("extensions") or {}).get("tls") or {}
    chain = list(tls.get("client_cert_chain") or [])
    event = request.scope.get("aws.event")
    if not chain and isinstance(event, dict):  # API Gateway with mutual TLS
        context = event.get("requestContext") or {}
        pem = ((context.get("authentication") or {}).get("clientCert") or {}).get("clientCertPem")
        chain = [pem] if pem else []
    if not chain:
        raise Problem(
            UNAUTHORIZED,
            "renewal authenticates with the current certificate over mutual TLS: "
            "connect with it as the client certificate (curl --cert/--key)",
        )
    return x509.load_pem_x509_certificate(str(chain[0]).encode("ascii"))


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the body is not valid"
