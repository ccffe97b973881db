"""JSON over HTTPS with urllib3: server verified against the CA bundle, optionally
authenticated by a client certificate (renewal), the agent's User-Agent on every call.

Errors come back as :class:`ApiError` with the problem document's type and detail
(docs/issuance.md), or as :class:`Unreachable` when no answer came at all, so that
callers can tell "the server said no" from "there was no server".
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

TIMEOUT = urllib3.Timeout(connect=10.0, read=60.0)


class Unreachable(Exception):
    """No HTTP answer: connection refused, TLS failure, timeout."""


@dataclass
class ApiError(Exception):
    status: int
    problem_type: str
    detail: str
    retry_after: int | None = None

    def __str__(self) -> str:
        kind = self.problem_type.rsplit(":", 1)[-1] or "error"
        return f"HTTP {self.status} {kind}: {self.detail}"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class JsonClient:
    def __init__(
        self,
        base_url: str,
        *,
        user_agent: str,
        ca_bundle: Path | None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
        if client_cert is not None:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
        self._pool = urllib3.PoolManager(
            ssl_context=context, timeout=TIMEOUT, retries=urllib3.Retry(0, redirect=False)
        )
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> Answer:
        headers = dict(self._headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body).encode()
        try:
            reply = self._pool.request(method, f"{self._base}{path}", body=payload, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(f"{method} {self._base}{path}: {exc}") from None
        try:
            document = json.loads(reply.data or b"{}")
        except ValueError:
            document = {}
        if not isinstance(document, dict):
            document = {}
        retry = reply.headers.get("Retry-After")
        if reply.status >= 400:
            raise ApiError(
                reply.status,
                str(document.get("type", "")),
                str(document.get("detail") or document.get("title") or reply.reason),
                int(retry) if retry and retry.isdigit() else None,
            )
        return Answer(reply.status, document, dict(reply.headers))

    def close(self) -> None:
        self._pool.clear()
