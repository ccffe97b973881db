"""The issuance core: policy, profiles, fallback across CA backends, the record of it all.

Transport-free, like the responders' core: the HTTP API, the Lambda handler and the
tests call the same methods with a ``Grant`` (who asks, what they may obtain) and get
views back or a ``Problem``. Every certificate that leaves this class is in the
certificate store (so OCSP answers for it at once) and in RAW as an event (so the
LAKE's inventory shows who issued what, through which backend).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from issuance.backends.base import (
    BackendConfigError,
    BackendError,
    BackendRefusedError,
    BackendUnavailableError,
    CaBackend,
    CertificateOrder,
    Issued,
    Pending,
)
from issuance.conformance import certificate_problem, csr_problem
from issuance.early_renewal import EarlyRenewals
from issuance.events import certificate_event
from issuance.limits import RateLimiter
from issuance.orders import OrderBook, order_of, problem_of, result_of
from issuance.policy import Grant, NamePolicy
from issuance.problems import (
    ALREADY_REVOKED,
    BACKEND_REFUSED,
    BACKEND_UNAVAILABLE,
    BAD_REASON,
    FORBIDDEN,
    MALFORMED_REQUEST,
    NAME_NOT_ALLOWED,
    NOT_FOUND,
    SAME_KEY,
    STORE_UNAVAILABLE,
    UNKNOWN_PROFILE,
    VALIDITY_OUT_OF_BOUNDS,
    Problem,
)
from issuance.requests import check_key, choose_names, common_name_of, read_csr
from issuance.settings import IssuanceSettings, Profile
from issuance.statedb import StateDb
from issuance.views import CertificateView, OrderView, renewal_window
from pki.certificates import record_for_certificate
from pki.pem import pem_bundle
from pki.rawlog import LogSink
from pki.reasons import RevocationReason
from pki.serials import serial_hex
from pki.store.base import (
    AlreadyRevokedError,
    CertificateExistsError,
    CertificateRecord,
    CertificateStore,
    CertStatus,
    StoreUnavailableError,
)

log = logging.getLogger(__name__)

UNAVAILABLE_RETRY_AFTER = 30


@dataclass(frozen=True)
class IssueRequest:
    csr: str
    profile: str
    sans: tuple[str, ...] | None = None
    validity_days: int | None = None


class IssuanceService:
    def __init__(
        self,
        *,
        settings: IssuanceSettings,
        store: CertificateStore,
        state: StateDb,
        events: LogSink,
        backends: Mapping[str, CaBackend] | Callable[[str], CaBackend],
        clock: Callable[[], datetime],
        grants: Callable[[str], Grant | None] = lambda _requester: None,
        submit_wait_seconds: float = 10.0,
    ) -> None:
        self._settings = settings
        self._profiles = settings.all_profiles()
        self._policy = NamePolicy.build(settings.domains, settings.deny)
        self._store = store
        self._state = state
        self._orders = OrderBook(state, clock)
        self._early = EarlyRenewals(state, settings.early_renewal, clock)
        self._events = events
        self._clock = clock
        self._grants = grants
        self._limiter = RateLimiter()
        self._open_backend = backends.__getitem__ if isinstance(backends, Mapping) else backends
        self._opened: dict[str, CaBackend] = {}
        self._lock = threading.Lock()
        self._wait = submit_wait_seconds
        self._chain_pems: dict[tuple[x509.Certificate, ...], str] = {}
        self._workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="issuance-order")

    # -- what callers can ask about ------------------------------------------------------
    @property
    def profiles(self) -> Mapping[str, Profile]:
        return self._profiles

    @property
    def policy(self) -> NamePolicy:
        return self._policy

    def backend(self, name: str) -> CaBackend:
        """The backend configured as ``name``, opened on first use and kept."""
        with self._lock:
            backend = self._opened.get(name)
            if backend is None:
                backend = self._open_backend(name)
                self._opened[name] = backend
            return backend

    def runs_locally(self, profile: str) -> bool:
        """Whether every backend of ``profile`` signs on this host without network I/O
        (the internal CA with a key file), so an async caller may run ``issue`` on its
        event loop: a thread hand-off would cost as much as the signature."""
        found = self._profiles.get(profile)
        if found is None:
            return True  # refused at once as an unknown profile
        with self._lock:  # only backends already open: opening one may take a while
            opened = [self._opened.get(name) for name in found.backends]
        return all(backend is not None and backend.runs_locally for backend in opened)

    def _answers_quickly(self, name: str) -> bool:
        try:
            return self.backend(name).answers_quickly
        except BackendError:
            return True  # it will fail fast in _try_backends and be skipped

    def describe_cas(self) -> list[dict[str, Any]]:
        described = []
        for name in self._settings.all_backends():
            try:
                described.append({**self.backend(name).describe(), "available": True})
            except BackendError as exc:
                described.append({"name": name, "available": False, "error": str(exc)})
        return described

    # -- issuance -----------------------------------------------------------------------
    def issue(self, request: IssueRequest, grant: Grant) -> CertificateView | OrderView:
        """Check everything, then issue through the profile's first available backend."""
        profile = self._profile(request.profile)
        grant.check_profile(request.profile)
        self._limiter.hit(grant.requester, grant.rate_limit)
        read = read_csr(request.csr)
        check_key(read.csr, profile, request.profile)
        names = choose_names(read.names, request.sans)
        if len(names) > profile.max_names:
            raise Problem(
                MALFORMED_REQUEST,
                f"{len(names)} names; profile {request.profile} allows {profile.max_names}",
            )
        self._policy.check(names, grant)
        order = CertificateOrder(
            request_id=str(uuid.uuid4()),
            csr=read.csr,
            common_name=common_name_of(names),
            names=names,
            validity=self._validity(profile, request.profile, request.validity_days),
            profile=request.profile,
            ekus=tuple(profile.ekus),
            requester=grant.requester,
            now=self._clock(),
        )
        return self._submit(order, profile, renews=None)

    def _profile(self, name: str) -> Profile:
        profile = self._profiles.get(name)
        if profile is None:
            raise Problem(
                UNKNOWN_PROFILE,
                f"no profile {name!r}; known: {', '.join(sorted(self._profiles))}",
                profile=name,
            )
        return profile

    @staticmethod
    def _validity(profile: Profile, name: str, days: int | None) -> timedelta:
        if days is None:
            return timedelta(days=profile.validity_days)
        lower, upper = profile.min_validity_days, profile.upper_validity_days
        if not lower <= days <= upper:
            raise Problem(
                VALIDITY_OUT_OF_BOUNDS,
                f"validity_days {days} is outside profile {name}'s bounds {lower} to {upper}",
                minimum=lower,
                maximum=upper,
            )
        return timedelta(days=days)

    def _submit(
        self, order: CertificateOrder, profile: Profile, *, renews: str | None
    ) -> CertificateView | OrderView:
        """Try the profile's backends in order. Slow backends (an upstream ACME CA that
        validates challenges) run on a worker; past ``submit_wait_seconds`` the caller
        gets an order to collect instead of a request that hangs."""
        if all(self._answers_quickly(name) for name in profile.backends):
            return self._try_backends(order, profile, renews)
        # The row exists before the work starts: a backend that answers "pending" later
        # replaces it with its reference, never the other way round.
        order_id = self._orders.open(order, state="processing", renews=renews)
        future: Future[CertificateView | OrderView] = self._workers.submit(
            self._try_backends, order, profile, renews
        )
        try:
            result = future.result(timeout=self._wait)
        except TimeoutError:
            future.add_done_callback(lambda done: self._settle(order_id, renews, done))
            return OrderView(order_id=order_id, status="processing", retry_after=5)
        except Problem as problem:
            self._orders.failed(order_id, problem)
            raise
        if isinstance(result, CertificateView):
            self._orders.fulfilled(order_id, result.issuer, result.serial)
        return result

    def _try_backends(
        self, order: CertificateOrder, profile: Profile, renews: str | None
    ) -> CertificateView | OrderView:
        failures: list[dict[str, str]] = []
        mismatched: list[str] = []
        for name in profile.backends:
            try:
                backend = self.backend(name)
                mismatch = csr_problem(order) if backend.certifies_csr_as_is else None
                if mismatch is not None:
                    mismatched.append(f"{name}: {mismatch}")
                    continue
                result = backend.submit(order)
            except BackendRefusedError as exc:
                raise Problem(BACKEND_REFUSED, f"CA backend {name}: {exc}", backend=name) from None
            except (BackendUnavailableError, BackendConfigError) as exc:
                log.warning("CA backend %s could not issue %s: %s", name, order.request_id, exc)
                failures.append({"backend": name, "error": str(exc)})
                continue
            if isinstance(result, Pending):
                order_id = self._orders.open(
                    order, state="pending", backend=name, pending=result, renews=renews
                )
                return OrderView(
                    order_id=order_id, status="pending", retry_after=result.retry_after
                )
            return self._record(order, name, result, renews=renews)
        if mismatched and not failures:
            raise Problem(BACKEND_REFUSED, "; ".join(mismatched))
        raise Problem(
            BACKEND_UNAVAILABLE,
            f"none of profile {order.profile}'s CA backends could issue: "
            + "; ".join(f"{f['backend']}: {f['error']}" for f in failures),
            retry_after=UNAVAILABLE_RETRY_AFTER,
            backends=failures,
        )

    def _record(
        self, order: CertificateOrder, backend: str, issued: Issued, *, renews: str | None
    ) -> CertificateView:
        """Store, remember and announce a certificate a backend returned."""
        certificate = issued.certificate
        wrong = certificate_problem(certificate, order)
        if wrong is not None:
            self._withdraw(backend, certificate)
            raise Problem(
                BACKEND_REFUSED,
                f"CA backend {backend} returned a certificate that was not delivered: {wrong}",
                backend=backend,
            )
        record = (
            replace(
                issued.record, ca_backend=backend, requester=order.requester, profile=order.profile
            )
            if issued.record is not None
            else record_for_certificate(
                certificate,
                issued.chain[0] if issued.chain else certificate,
                profile=order.profile,
                now=self._clock(),
                requester=order.requester,
                ca_backend=backend,
            )
        )
        profile = self._profiles.get(order.profile, Profile())
        normal = renewal_window(record.not_before, record.not_after, profile.renewal_fraction)
        leaf_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        chain_pem = self._chain_pem(issued.chain)
        # The service's own copy first, then the store: a certificate OCSP answers for is
        # then always one this service can return and renew. Either failing means the
        # certificate was signed but never delivered: nobody holds its key's twin.
        try:
            self._state.insert_issued(
                {
                    "issuer_key_sha1": record.issuer_key_sha1,
                    "serial": record.serial,
                    "certificate": leaf_pem,
                    "chain": chain_pem,
                    "request_id": order.request_id,
                    "renewal_start": normal[0].isoformat(),
                    "renewal_end": normal[1].isoformat(),
                }
            )
            self._store.add(record)
        except CertificateExistsError:
            # The same certificate collected twice at once (two polls of one order):
            # recorded and announced by the first, returned as it is to both.
            return self.certificate(record.issuer_key_sha1, record.serial)
        except (StoreUnavailableError, sqlite3.Error) as exc:
            raise Problem(
                STORE_UNAVAILABLE,
                f"the certificate could not be recorded, so it was not delivered: {exc}",
                retry_after=UNAVAILABLE_RETRY_AFTER,
            ) from None
        self._events.emit(
            certificate_event(
                "renewed" if renews else "issued",
                record,
                request_id=order.request_id,
                certificate_pem=leaf_pem,
                renews=renews,
            )
        )
        return CertificateView.build(
            record,
            certificate=leaf_pem,
            chain=chain_pem,
            # a backend being retired may still issue (a profile's fallback): due at once
            window=self._early.window(record, normal, new=True),
            request_id=order.request_id,
        )

    def _withdraw(self, backend: str, certificate: x509.Certificate) -> None:
        """Best effort: a certificate that will not be delivered is revoked at its CA."""
        try:
            self.backend(backend).revoke(certificate, RevocationReason.cessationOfOperation)
        except BackendError as exc:
            log.error("could not revoke an undelivered certificate at %s: %s", backend, exc)

    def _chain_pem(self, chain: tuple[x509.Certificate, ...]) -> str:
        """A chain's PEM, encoded once per distinct chain (the same for every leaf of a
        CA), not once per request."""
        pem = self._chain_pems.get(chain)
        if pem is None:
            pem = pem_bundle(chain)
            if len(self._chain_pems) < 64:
                self._chain_pems[chain] = pem
        return pem

    # -- orders -------------------------------------------------------------------------
    def _settle(
        self, order_id: str, renews: str | None, done: Future[CertificateView | OrderView]
    ) -> None:
        """A slow backend finished after the caller was told to come back."""
        try:
            result = done.result()
        except Problem as problem:
            self._orders.failed(order_id, problem)
            return
        except Exception:  # a bug in a backend must not leave the order processing forever
            log.exception("order %s failed inside its CA backend", order_id)
            self._orders.failed(
                order_id, Problem(BACKEND_UNAVAILABLE, "the order failed inside the CA backend")
            )
            return
        if isinstance(result, CertificateView):
            self._orders.fulfilled(order_id, result.issuer, result.serial)
        # A pending result (the backend itself is asynchronous) opened its own order row.

    def order(self, order_id: str, requester: str) -> CertificateView | OrderView:
        """Collect an order; only its requester sees it (the caller's grant, or for a
        renewal the holder of the certificate it renews: ``requester_of``)."""
        row = self._orders.find(order_id, requester)
        if row is None:
            raise Problem(NOT_FOUND, f"no order {order_id} for this caller")
        state = str(row["state"])
        if state == "valid":
            return self.certificate(*result_of(row))
        if state == "invalid":
            return OrderView(order_id=order_id, status="invalid", problem=problem_of(row))
        if state == "pending" and row["backend"] and row["reference"]:
            return self._poll(row)
        return OrderView(order_id=order_id, status=state, retry_after=int(row["retry_after"]))

    def _poll(self, row: dict[str, Any]) -> CertificateView | OrderView:
        order_id = str(row["id"])
        retry_after = int(row["retry_after"])
        backend = self.backend(str(row["backend"]))
        try:
            result = backend.poll(str(row["reference"]))
        except BackendRefusedError as exc:
            problem = Problem(BACKEND_REFUSED, f"CA backend {backend.name}: {exc}")
            self._orders.failed(order_id, problem)
            return OrderView(order_id=order_id, status="invalid", problem=problem.body())
        except (BackendUnavailableError, BackendConfigError):
            return OrderView(order_id=order_id, status="pending", retry_after=retry_after)
        if isinstance(result, Pending):
            return OrderView(order_id=order_id, status="pending", retry_after=result.retry_after)
        order, renews = order_of(row, self._clock())
        view = self._record(order, backend.name, result, renews=renews)
        self._orders.fulfilled(order_id, view.issuer, view.serial)
        return view

    # -- renewal and revocation ---------------------------------------------------------
    def renew(self, presented: x509.Certificate, csr_pem: str) -> CertificateView | OrderView:
        """Renew the certificate the caller authenticated with over mutual TLS (step-ca's
        model: holding the current certificate's key is the credential). The new CSR must
        bring a new key and the same names; the profile and requester carry over, and the
        global name rules apply again (a name denied since is not renewed)."""
        now = self._clock()
        record = self._presented(presented)
        if record.status is not CertStatus.good:
            raise Problem(FORBIDDEN, f"certificate {record.serial} is revoked: enrol again")
        if not record.not_before <= now < record.not_after:
            raise Problem(FORBIDDEN, f"certificate {record.serial} is not valid now: enrol again")
        profile = self._profile(record.profile)
        self._limiter.hit(record.requester or "renewal", self._settings.rate_limit)
        read = read_csr(csr_pem)
        if read.csr.public_key() == presented.public_key():
            raise Problem(SAME_KEY, "the CSR carries the current certificate's key; make a new one")
        check_key(read.csr, profile, record.profile)
        if set(read.names) != set(record.sans):
            raise Problem(
                NAME_NOT_ALLOWED,
                f"a renewal certifies the same names ({', '.join(record.sans)}); "
                f"the CSR asks for {', '.join(read.names)}",
                name=", ".join(sorted(set(read.names) ^ set(record.sans))),
                rule="renewal-names",
            )
        grant = self._grants(record.requester)
        if grant is None:
            raise Problem(
                FORBIDDEN,
                f"{record.requester or 'the requester'}, which obtained certificate "
                f"{record.serial}, is no longer allowed to (token revoked or expired, "
                "principal removed): obtain a certificate again with a valid credential",
            )
        grant.check_profile(record.profile)
        self._policy.check(read.names, grant)
        order = CertificateOrder(
            request_id=str(uuid.uuid4()),
            csr=read.csr,
            common_name=common_name_of(read.names),
            names=read.names,
            validity=timedelta(days=profile.validity_days),
            profile=record.profile,
            ekus=tuple(profile.ekus),
            requester=record.requester,
            now=now,
        )
        return self._submit(order, profile, renews=record.serial)

    def requester_of(self, presented: x509.Certificate) -> str:
        """Who a client certificate acts for: the requester of the certificate, so that
        a renewal that answered 202 can be collected with the same certificate."""
        return self._presented(presented).requester

    def _presented(self, presented: x509.Certificate) -> CertificateRecord:
        """The inventory row of exactly this certificate: same serial, same bytes as the
        one this service issued. The TLS layer has already checked the chain and that the
        caller holds the key."""
        serial = serial_hex(presented.serial_number)
        pem = presented.public_bytes(serialization.Encoding.PEM).decode("ascii")
        for record in self._store.find_serial(serial):
            row = self._state.issued(record.issuer_key_sha1, serial)
            if row is not None and row["certificate"] == pem:
                return record
        raise Problem(FORBIDDEN, "the client certificate was not issued by this service")

    def revoke(
        self, issuer: str, serial: str, reason: RevocationReason, grant: Grant
    ) -> CertificateView:
        """Revoke a certificate the caller obtained, or whose names its grant covers. The
        CA backend is told first (an upstream CA's own OCSP must agree); the store then
        drives certsight's OCSP answers and the next CRL."""
        if reason in (RevocationReason.removeFromCRL, RevocationReason.certificateHold):
            raise Problem(
                BAD_REASON, f"{reason.name} is not accepted: revocation here is permanent"
            )
        record = self._store.get(issuer, serial)
        if record is None:
            raise Problem(NOT_FOUND, f"no certificate {serial} under issuer {issuer}")
        owns = record.requester == grant.requester
        covered = bool(record.sans) and all(
            any(pattern.matches(name) for pattern in grant.allow) for name in record.sans
        )
        if not (owns or covered):
            raise Problem(FORBIDDEN, f"this caller neither obtained {serial} nor owns its names")
        if record.status is CertStatus.revoked:
            raise Problem(
                ALREADY_REVOKED, f"certificate {serial} was revoked at {record.revoked_at}"
            )
        row = self._state.issued(issuer, serial)
        if row is not None and record.ca_backend in self._settings.all_backends():
            certificate = x509.load_pem_x509_certificate(row["certificate"].encode("ascii"))
            try:
                self.backend(record.ca_backend).revoke(certificate, reason)
            except BackendRefusedError as exc:
                raise Problem(BACKEND_REFUSED, f"CA backend {record.ca_backend}: {exc}") from None
            except (BackendUnavailableError, BackendConfigError) as exc:
                raise Problem(
                    BACKEND_UNAVAILABLE,
                    f"CA backend {record.ca_backend} cannot be told: {exc}",
                    retry_after=UNAVAILABLE_RETRY_AFTER,
                ) from None
        try:
            revoked = self._store.revoke(issuer, serial, self._clock(), reason)
        except AlreadyRevokedError:
            raise Problem(ALREADY_REVOKED, f"certificate {serial} is already revoked") from None
        self._events.emit(
            certificate_event(
                "revoked", revoked, request_id=str(uuid.uuid4()), revoked_by=grant.requester
            )
        )
        return self.certificate(issuer, serial)

    # -- lookups ------------------------------------------------------------------------
    @property
    def early_renewals(self) -> EarlyRenewals:
        """The early-renewal flags of this service's state, for in-process callers; the
        CLI and the warehouse feed open their own ``EarlyRenewals`` on the same file."""
        return self._early

    def certificate(self, issuer: str, serial: str) -> CertificateView:
        """A certificate and its renewal window: the profile's, or moved to now when the
        certificate is due early (issuance/early_renewal.py). ACME's renewalInfo, the API
        and the agent all read the window here."""
        record = self._store.get(issuer, serial)
        if record is None:
            raise Problem(NOT_FOUND, f"no certificate {serial} under issuer {issuer}")
        row = self._state.issued(issuer, serial)
        profile = self._profiles.get(record.profile, Profile())
        if row is not None:
            normal = (
                datetime.fromisoformat(row["renewal_start"]),
                datetime.fromisoformat(row["renewal_end"]),
            )
        else:
            normal = renewal_window(record.not_before, record.not_after, profile.renewal_fraction)
        return CertificateView.build(
            record,
            certificate=row["certificate"] if row else None,
            chain=row["chain"] if row else None,
            window=self._early.window(record, normal),
            request_id=row["request_id"] if row else None,
        )

    def close(self) -> None:
        self._workers.shutdown(wait=True, cancel_futures=False)
        with self._lock:
            for backend in self._opened.values():
                backend.close()
            self._opened.clear()
