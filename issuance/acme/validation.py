"""Challenge validation (RFC 8555 8.3 http-01, 8.4 dns-01, RFC 8737 tls-alpn-01): is
the key authorization where the identifier's owner would put it?

Names are resolved through the configured resolvers (dnspython), both for http-01's
address and dns-01's TXT record, so a test (or a split-horizon site) points the
validator at its own DNS. Each attempt has a timeout; failures that may pass on a
second look (timeouts, refused connections, SERVFAIL) are retried a bounded number
of times with a short back-off; a wrong answer is final. The result is None (valid)
or the ACME error saying what was found.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
import ssl
from dataclasses import dataclass

import dns.exception
import dns.nameserver
import dns.resolver
import httpx
from cryptography import x509
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from issuance.acme.eab import b64url
from issuance.acme.problems import CONNECTION, DNS, INCORRECT_RESPONSE, TLS, AcmeError
from issuance.acme.settings import AcmeSettings, parse_resolver

log = logging.getLogger(__name__)
MAX_HTTP_BODY = 4096  # a key authorization is ~90 bytes; anything far larger is wrong


ACME_TLS_ALPN = "acme-tls/1"
ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")  # RFC 8737 6.1


class _Transient(Exception):
    """A failure worth another attempt; carries the error to report if none succeeds."""

    def __init__(self, error: AcmeError) -> None:
        super().__init__(error.detail)
        self.error = error


@dataclass(frozen=True)
class Challenge:
    kind: str  # http-01 | dns-01
    token: str
    identifier_type: str  # dns | ip
    identifier: str  # the name without "*." for a wildcard


def key_authorization(token: str, thumbprint: bytes) -> str:
    return f"{token}.{b64url(thumbprint)}"


class Validator:
    def __init__(self, settings: AcmeSettings) -> None:
        self._settings = settings
        try:
            self._resolver = dns.resolver.Resolver(configure=not settings.resolvers)
        except dns.resolver.NoResolverConfiguration:
            log.warning(
                "ACME: no system resolver (/etc/resolv.conf): names cannot be validated "
                "until [acme] resolvers lists DNS servers"
            )
            self._resolver = dns.resolver.Resolver(configure=False)
        if settings.resolvers:
            self._resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port)
                for host, port in map(parse_resolver, settings.resolvers)
            ]
        self._resolver.lifetime = settings.validation_timeout_seconds
        self._resolver.timeout = settings.validation_timeout_seconds
        # One client for every http-01 fetch (httpx.Client is thread-safe): building one
        # per attempt made a new SSL context and connection pool each time. No
        # keep-alive (as Boulder's VA): each attempt is a fresh connection to the address
        # the name resolves to now, never a pooled one another identifier opened, and a
        # connection the host closed while idle cannot fail an attempt.
        self._http = httpx.Client(
            timeout=settings.validation_timeout_seconds,
            follow_redirects=False,  # as before: the token must be served at the path
            trust_env=False,  # never through a proxy: the identifier's own host
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def close(self) -> None:
        self._http.close()

    def validate(self, challenge: Challenge, key_authz: str) -> AcmeError | None:
        checks = {"http-01": self._http01, "dns-01": self._dns01, "tls-alpn-01": self._tls_alpn01}
        check = checks[challenge.kind]
        retrying = Retrying(
            stop=stop_after_attempt(self._settings.validation_attempts),
            wait=wait_exponential(multiplier=0.5, max=4),
            retry=retry_if_exception_type(_Transient),
        )
        try:
            for attempt in retrying:
                with attempt:
                    check(challenge, key_authz)
        except RetryError as exc:
            failure = exc.last_attempt.exception()
            assert isinstance(failure, _Transient)
            return failure.error
        except AcmeError as error:
            return error
        return None

    # -- http-01 --------------------------------------------------------------------------
    def _http01(self, challenge: Challenge, key_authz: str) -> None:
        address = self._address(challenge)
        host = f"[{address}]" if ":" in address else address
        url = f"http://{host}:{self._settings.http01_port}/.well-known/acme-challenge/{challenge.token}"
        where = f"{challenge.identifier} ({address}:{self._settings.http01_port})"
        try:
            with self._http.stream("GET", url, headers={"Host": challenge.identifier}) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_HTTP_BODY:
                        break
        except httpx.TimeoutException:
            raise _Transient(AcmeError(CONNECTION, f"http-01: {where} timed out")) from None
        except httpx.HTTPError as exc:
            raise _Transient(
                AcmeError(CONNECTION, f"http-01: cannot fetch from {where}: {exc}")
            ) from None
        if response.status_code != 200:
            raise AcmeError(
                INCORRECT_RESPONSE,
                f"http-01: {where} answered {response.status_code} for the challenge path",
            )
        found = body[:MAX_HTTP_BODY].decode("utf-8", "replace").strip()
        if found != key_authz:
            raise AcmeError(
                INCORRECT_RESPONSE,
                f"http-01: {where} served {found[:100]!r}, not the key authorization",
            )

    def _address(self, challenge: Challenge) -> str:
        if challenge.identifier_type == "ip":
            return str(ipaddress.ip_address(challenge.identifier))
        for record_type in ("A", "AAAA"):
            try:
                answer = self._resolver.resolve(challenge.identifier, record_type)
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                continue
            except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
                raise _Transient(
                    AcmeError(DNS, f"cannot resolve {challenge.identifier}: {exc}")
                ) from None
            for record in answer:
                return str(record.address)
        raise AcmeError(DNS, f"{challenge.identifier} has no A or AAAA record")

    # -- tls-alpn-01 ---------------------------------------------------------------------
    def _tls_alpn01(self, challenge: Challenge, key_authz: str) -> None:
        """RFC 8737 3: a TLS handshake with SNI = the name and ALPN ``acme-tls/1`` must
        present a certificate naming only that name, with a critical acmeIdentifier
        extension holding SHA-256 of the key authorization."""
        address = self._address(challenge)
        port = self._settings.tls_alpn01_port
        where = f"{challenge.identifier} ({address}:{port})"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the certificate is self-signed by design
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols([ACME_TLS_ALPN])
        timeout = self._settings.validation_timeout_seconds
        try:
            with (
                socket.create_connection((address, port), timeout=timeout) as raw,
                context.wrap_socket(raw, server_hostname=challenge.identifier) as tls,
            ):
                protocol = tls.selected_alpn_protocol()
                der = tls.getpeercert(binary_form=True)
        except TimeoutError:
            raise _Transient(AcmeError(TLS, f"tls-alpn-01: {where} timed out")) from None
        except ssl.SSLError as exc:
            raise AcmeError(TLS, f"tls-alpn-01: the handshake with {where} failed: {exc}") from None
        except OSError as exc:
            raise _Transient(
                AcmeError(CONNECTION, f"tls-alpn-01: cannot connect to {where}: {exc}")
            ) from None
        if protocol != ACME_TLS_ALPN or not der:
            raise AcmeError(
                INCORRECT_RESPONSE, f"tls-alpn-01: {where} did not negotiate {ACME_TLS_ALPN}"
            )
        _check_alpn_certificate(x509.load_der_x509_certificate(der), challenge, key_authz)

    # -- dns-01 ---------------------------------------------------------------------------
    def _dns01(self, challenge: Challenge, key_authz: str) -> None:
        expected = b64url(hashlib.sha256(key_authz.encode("ascii")).digest())
        name = f"_acme-challenge.{challenge.identifier}"
        try:
            answer = self._resolver.resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            raise _Transient(AcmeError(DNS, f"dns-01: no TXT record at {name}")) from None
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise _Transient(AcmeError(DNS, f"dns-01: cannot query {name}: {exc}")) from None
        values = [b"".join(record.strings).decode("ascii", "replace") for record in answer]
        if expected not in values:
            raise AcmeError(
                INCORRECT_RESPONSE,
                f"dns-01: {len(values)} TXT record(s) at {name}, "
                "none the key authorization's digest",
            )


def _check_alpn_certificate(
    certificate: x509.Certificate, challenge: Challenge, key_authz: str
) -> None:
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = sans.value.get_values_for_type(x509.DNSName)
        identifier = certificate.extensions.get_extension_for_oid(ACME_IDENTIFIER)
    except (x509.ExtensionNotFound, ValueError) as exc:
        raise AcmeError(INCORRECT_RESPONSE, f"tls-alpn-01: the certificate lacks {exc}") from None
    if names != [challenge.identifier] or len(list(sans.value)) != 1:
        raise AcmeError(
            INCORRECT_RESPONSE,
            f"tls-alpn-01: the certificate must name only {challenge.identifier}, not {names}",
        )
    digest = hashlib.sha256(key_authz.encode("ascii")).digest()
    expected = b"\x04\x20" + digest  # DER OCTET STRING of the 32-byte digest
    value = getattr(identifier.value, "value", b"")
    if not identifier.critical or value != expected:
        raise AcmeError(
            INCORRECT_RESPONSE,
            "tls-alpn-01: the acmeIdentifier extension is not critical or does not hold "
            "the key authorization's digest",
        )
