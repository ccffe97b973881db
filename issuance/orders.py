"""Orders the caller must come back for: a backend that issues later (AWS Private CA),
or one that took longer than the caller should wait (an upstream ACME CA validating
challenges).

Rows live in the service's SQLite state, so ``GET /v1/orders/{id}`` works from any
worker and after a restart. An order belongs to its requester: nobody else sees it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from issuance.backends.base import CertificateOrder, Pending
from issuance.problems import Problem
from issuance.statedb import StateDb


class OrderBook:
    def __init__(self, state: StateDb, clock: Callable[[], datetime]) -> None:
        self._state = state
        self._clock = clock

    def open(
        self,
        order: CertificateOrder,
        *,
        state: str,
        backend: str | None = None,
        pending: Pending | None = None,
        renews: str | None = None,
    ) -> str:
        now = self._clock().isoformat()
        request = {
            "csr": order.csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            "names": list(order.names),
            "validity_s": int(order.validity.total_seconds()),
            "ekus": list(order.ekus),
            "renews": renews,
        }
        self._state.insert_order(
            {
                "id": order.request_id,
                "requester": order.requester,
                "state": state,
                "profile": order.profile,
                "backend": backend,
                "reference": pending.reference if pending else None,
                "request": json.dumps(request),
                "retry_after": pending.retry_after if pending else 5,
                "created_at": now,
                "updated_at": now,
            }
        )
        return order.request_id

    def find(self, order_id: str, requester: str) -> dict[str, Any] | None:
        row = self._state.order(order_id)
        if row is None or row["requester"] != requester:
            return None
        return row

    def fulfilled(self, order_id: str, issuer: str, serial: str) -> None:
        self._state.update_order(
            order_id,
            state="valid",
            result=json.dumps({"issuer": issuer, "serial": serial}),
            updated_at=self._clock().isoformat(),
        )

    def failed(self, order_id: str, problem: Problem) -> None:
        self._state.update_order(
            order_id,
            state="invalid",
            problem=json.dumps(problem.body()),
            updated_at=self._clock().isoformat(),
        )


def order_of(row: dict[str, Any], now: datetime) -> tuple[CertificateOrder, str | None]:
    """Rebuild the accepted order of a stored row, and the serial it renews."""
    request = json.loads(row["request"])
    order = CertificateOrder(
        request_id=str(row["id"]),
        csr=x509.load_pem_x509_csr(request["csr"].encode("ascii")),
        common_name=request["names"][0],
        names=tuple(request["names"]),
        validity=timedelta(seconds=request["validity_s"]),
        profile=str(row["profile"]),
        ekus=tuple(request["ekus"]),
        requester=str(row["requester"]),
        now=now,
    )
    return order, request.get("renews")


def result_of(row: dict[str, Any]) -> tuple[str, str]:
    found = json.loads(row["result"])
    return str(found["issuer"]), str(found["serial"])


def problem_of(row: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(row["problem"] or "{}")
    return document
