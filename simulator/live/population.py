"""The live enterprise's clients at work: real OCSP GETs and POSTs, and CRL downloads,
sent to a running responder at a steady pace.

Each request comes from one client of the population (its address in
``CloudFront-Viewer-Address``, which the responder takes as the client's, its
User-Agent, its hash algorithm and nonce habit) about one of its habitual servers.
One keep-alive connection carries everything; a failed request is counted, the
connection dropped, and the next one waits a little longer (up to ``MAX_BACKOFF_S``).
Nothing is logged per request: ``stats`` says what happened.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import itertools
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from simulator.live.enterprise import LiveClient, LiveEnterprise

CRL_PATH = "/crl/issuing-ca.crl"  # the issuing CA's CRL, as the certificates' CDP names it
CRL_SHARE = 0.05  # of the requests of clients that fetch CRLs
TIMEOUT_S = 5.0  # per request: connect, send, read
MAX_BACKOFF_S = 5.0
MAX_LAG_S = 1.0  # behind schedule by more than this: drop the backlog instead of bursting
_CERT_STATUS = {
    ocsp.OCSPCertStatus.GOOD: "good",
    ocsp.OCSPCertStatus.REVOKED: "revoked",
    ocsp.OCSPCertStatus.UNKNOWN: "unknown",
}


@dataclass
class LiveStats:
    """What the population sent and got back. Updated by the sending thread; read it
    through ``snapshot()`` from others."""

    sent: int = 0  # requests attempted, OCSP and CRL
    ocsp: int = 0
    crl: int = 0
    errors: int = 0  # no answer (connection, timeout) or an answer that did not parse
    by_method: Counter[str] = field(default_factory=Counter)  # OCSP GET / POST
    by_hash: Counter[str] = field(default_factory=Counter)  # OCSP CertID sha1 / sha256
    by_http_status: Counter[int] = field(default_factory=Counter)
    by_response_status: Counter[str] = field(default_factory=Counter)  # successful, ...
    by_cert_status: Counter[str] = field(default_factory=Counter)  # good, revoked, unknown
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "sent": self.sent,
                "ocsp": self.ocsp,
                "crl": self.crl,
                "errors": self.errors,
                "by_method": dict(self.by_method),
                "by_hash": dict(self.by_hash),
                "by_http_status": dict(self.by_http_status),
                "by_response_status": dict(self.by_response_status),
                "by_cert_status": dict(self.by_cert_status),
                "last_error": self.last_error,
            }


def next_backoff(backoff: float) -> float:
    """The wait after a failed request: 0.1 s, then doubling, up to MAX_BACKOFF_S."""
    return min(MAX_BACKOFF_S, max(0.1, backoff * 2))


def next_due(due: float, interval: float, now: float) -> float:
    """When the next request is due: one interval after the last, unless that is more
    than MAX_LAG_S behind ``now`` (a slow answer, a pause), in which case the backlog is
    dropped rather than sent as a burst."""
    due += interval
    return now if due < now - MAX_LAG_S else due


class LivePopulation:
    """Clients of ``enterprise`` asking ``base_url`` (``http://127.0.0.1:8080``) about
    their servers, ``rate_per_second`` requests a second in all."""

    def __init__(
        self,
        base_url: str,
        enterprise: LiveEnterprise,
        *,
        rate_per_second: float = 5.0,
        seed: int = 1,
        crl_share: float = CRL_SHARE,
    ) -> None:
        if not rate_per_second > 0:
            raise ValueError("rate_per_second must be positive")
        if not enterprise.clients:
            raise ValueError("the enterprise has no clients")
        url = urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"expected http://host[:port], got {base_url!r}")
        self._host = url.hostname
        self._port = url.port or 80
        self._prefix = url.path.rstrip("/")
        self.enterprise = enterprise
        self.interval = 1.0 / rate_per_second
        self.crl_share = crl_share
        self.stats = LiveStats()
        self._rng = random.Random(seed)  # noqa: S311 - simulated traffic, not secrets
        self._clients = enterprise.clients
        self._cumulative = list(itertools.accumulate(c.activity for c in self._clients))
        self._requests: dict[tuple[int, bool], bytes] = {}  # DER without nonce, per CertID
        self._connection: http.client.HTTPConnection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------
    def start(self) -> threading.Thread:
        """Send in a daemon thread until ``stop()``."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run, args=(self._stop,), name="certsight-live", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self, stop: threading.Event) -> None:
        """Send, paced to the rate, until ``stop`` is set. Never raises for a failed request."""
        backoff = 0.0
        due = time.monotonic()
        try:
            while not stop.is_set():
                if self._send_one():
                    backoff = 0.0
                else:
                    backoff = next_backoff(backoff)
                    if stop.wait(backoff):
                        return
                now = time.monotonic()
                due = next_due(due, self.interval, now)
                if due > now and stop.wait(due - now):
                    return
        finally:
            self._close()

    # -- one request -----------------------------------------------------------
    def _send_one(self) -> bool:
        """One request from a client; False when it got no usable answer."""
        client = self._rng.choices(self._clients, cum_weights=self._cumulative)[0]
        crl = client.software.fetches_crl and self._rng.random() < self.crl_share
        with self.stats.lock:
            self.stats.sent += 1
        try:
            if crl:
                self._fetch_crl(client)
            else:
                self._ask_ocsp(client)
        except Exception as exc:  # noqa: BLE001 - count it and go on; the next request retries
            self._close()
            with self.stats.lock:
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
            return False
        return True

    def _ask_ocsp(self, client: LiveClient) -> None:
        rng = self._rng
        server = rng.choices(client.servers, weights=client.weights)[0]
        der = self._request_der(server, client.sha256, client.nonce)
        headers = self._headers(client)
        software = client.software
        with self.stats.lock:
            self.stats.ocsp += 1
            self.stats.by_method[software.method] += 1
            self.stats.by_hash["sha256" if client.sha256 else "sha1"] += 1
        if software.method == "GET":
            text = base64.b64encode(der).decode("ascii")
            path = f"{self._prefix}/ocsp/{quote(text, safe='') if software.escaped else text}"
            status, body = self._exchange("GET", path, None, headers)
        else:
            headers["Content-Type"] = "application/ocsp-request"
            status, body = self._exchange("POST", f"{self._prefix}/ocsp", der, headers)
        with self.stats.lock:
            self.stats.by_http_status[status] += 1
        if status != 200:
            return
        answer = ocsp.load_der_ocsp_response(body)  # a ValueError counts as an error
        with self.stats.lock:
            self.stats.by_response_status[answer.response_status.name.lower()] += 1
            if answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL:
                for single in answer.responses:
                    self.stats.by_cert_status[_CERT_STATUS[single.certificate_status]] += 1

    def _fetch_crl(self, client: LiveClient) -> None:
        headers = self._headers(client)
        with self.stats.lock:
            self.stats.crl += 1
        status, body = self._exchange("GET", self._prefix + CRL_PATH, None, headers)
        with self.stats.lock:
            self.stats.by_http_status[status] += 1
        if status == 200:
            x509.load_der_x509_crl(body)  # a ValueError counts as an error

    def _headers(self, client: LiveClient) -> dict[str, str]:
        port = self._rng.randrange(1024, 65536)
        headers = {"CloudFront-Viewer-Address": f"{client.ip}:{port}"}
        if client.user_agent is not None:
            headers["User-Agent"] = client.user_agent
        return headers

    def _request_der(self, server: int, sha256: bool, nonce: bool) -> bytes:
        cached = None if nonce else self._requests.get((server, sha256))
        if cached is not None:
            return cached
        algorithm: hashes.HashAlgorithm = (
            hashes.SHA256() if sha256 else hashes.SHA1()  # noqa: S303 - RFC 6960 CertIDs
        )
        builder = ocsp.OCSPRequestBuilder().add_certificate(
            self.enterprise.servers[server].certificate, self.enterprise.issuer, algorithm
        )
        if nonce:
            builder = builder.add_extension(x509.OCSPNonce(self._rng.randbytes(16)), critical=False)
        der = builder.build().public_bytes(Encoding.DER)
        if not nonce:
            self._requests[(server, sha256)] = der
        return der

    def _exchange(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """One request on the kept-alive connection. A reused connection the server has
        closed meanwhile (idle timeout) is retried once on a new one, as browsers do."""
        reused = self._connection is not None
        try:
            return self._on_connection(method, path, body, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if not reused:
                raise
            self._close()
            return self._on_connection(method, path, body, headers)

    def _on_connection(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(self._host, self._port, timeout=TIMEOUT_S)
        self._connection.request(method, path, body=body, headers=headers)
        reply = self._connection.getresponse()
        return reply.status, reply.read()  # read to the end: the connection is reused

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.close()
            self._connection = None
