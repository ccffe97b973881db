"""``enroll`` and ``renew``: obtain a certificate for a new key, install the set, run
the reload hook. Exit codes are the agent's interface to cron and systemd
(docs/agent.md): 0 done or nothing due, 1 refused or misconfigured, 2 renewal failing
in the certificate's last 10% of life, 3 expired or revoked (re-enroll with a token),
4 installed but the reload hook failed."""

from __future__ import annotations

import logging
import random
import shutil
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from certsight_agent import certset, schedule
from certsight_agent.clock import iso, now
from certsight_agent.config import CA_BUNDLE_NAME, AgentConfig
from certsight_agent.hooks import run_reload
from certsight_agent.issuance import Issued, client_for
from certsight_agent.keys import csr_for, key_pem, new_key
from certsight_agent.transport import ApiError, Unreachable

log = logging.getLogger("certsight_agent")

OK, REFUSED, FAILING_LATE, EXPIRED, RELOAD_FAILED = 0, 1, 2, 3, 4
RECOVERY = (
    "recover by enrolling again with a token: certsight-agent enroll --server URL "
    "--token-file FILE --name NAME --out {out} (docs/agent.md, 'Recovery')"
)


@dataclass(frozen=True)
class EnrollRequest:
    server: str
    token: str
    names: list[str]
    out: Path
    profile: str | None
    ca_bundle: Path | None
    reload: list[str] | None
    signal: str | None
    pid_file: str | None
    p12: bool
    p12_password: str | None


def enroll(request: EnrollRequest, *, user_agent: str) -> int:
    out = request.out
    out.mkdir(parents=True, exist_ok=True)
    bundle = None
    if request.ca_bundle is not None:
        shutil.copyfile(request.ca_bundle, out / f".{CA_BUNDLE_NAME}.tmp")
        (out / f".{CA_BUNDLE_NAME}.tmp").rename(out / CA_BUNDLE_NAME)
        bundle = CA_BUNDLE_NAME
    config = AgentConfig(
        server=request.server,
        names=request.names,
        profile=request.profile,
        ca_bundle=bundle,
        reload=request.reload,
        signal=request.signal,
        pid_file=request.pid_file,
        p12=request.p12,
        p12_password=request.p12_password,
    )
    key = new_key()
    client = client_for(
        config.server, user_agent=user_agent, ca_bundle=config.ca_path(out), token=request.token
    )
    try:
        issued = client.issue(csr_for(key, config.names), config.profile, None)
    except (ApiError, Unreachable) as exc:
        log.error("enrollment failed: %s", exc)
        return REFUSED
    config.save(out)
    return _install_and_reload(out, config, key, issued, None)


def renew(out: Path, *, force: bool, user_agent: str, rng: random.Random | None = None) -> int:
    rng = rng or random.SystemRandom()
    config = AgentConfig.load(out)
    cert = certset.current_certificate(out)
    if cert is None:
        log.error("%s/current holds no certificate; %s", out, RECOVERY.format(out=out))
        return EXPIRED
    at = now()
    serial = certset.serial_hex(cert.serial_number)
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    state = schedule.RenewalState.load(out)
    if at >= not_after:
        log.error(
            "CERTIFICATE EXPIRED: %s (serial %s) expired at %s; renewal over mutual TLS is "
            "no longer possible; %s",
            ", ".join(config.names),
            serial,
            iso(not_after),
            RECOVERY.format(out=out),
        )
        return EXPIRED
    late = schedule.in_last_tenth(not_before, not_after, at)
    waiting = state is not None and schedule.waiting_after_failure(state, at)
    if state is not None and state.serial == serial and waiting and not force:
        return _still_failing(config, state, not_after) if late else OK
    current = out / "current"
    client = client_for(
        config.server,
        user_agent=user_agent,
        ca_bundle=config.ca_path(out),
        cert=current / certset.CERT,
        key=current / certset.KEY,
    )
    issuer = state.issuer if state is not None and state.serial == serial else _issuer_of(cert)
    window, source = schedule.fallback_window(not_before, not_after), "fallback"
    if issuer:
        try:
            found = client.status(issuer, serial)
        except (ApiError, Unreachable) as exc:
            log.info("renewal window from the lifetime (server not asked: %s)", exc)
        else:
            if found.status == "revoked":
                log.error(
                    "CERTIFICATE REVOKED: serial %s; it cannot renew itself; %s",
                    serial,
                    RECOVERY.format(out=out),
                )
                return EXPIRED
            window, source = (found.renewal_start, found.renewal_end), "server"
    state = schedule.with_window(
        state, issuer=issuer, serial=serial, window=window, source=source, rng=rng
    )
    state.save(out)
    if not force and not schedule.is_due(state, at):
        log.debug("nothing due: renews at %s", state.renew_at)
        return OK
    key = new_key()  # always a new key: a renewal never reuses the old one
    try:
        issued = client.renew(csr_for(key, config.names))
    except (ApiError, Unreachable) as exc:
        state = schedule.after_failure(state, at, str(exc), rng)
        state.save(out)
        if late:
            return _still_failing(config, state, not_after)
        log.warning("renewal failed (%s); next attempt after %s", exc, state.next_attempt)
        permanent = isinstance(exc, ApiError) and 400 <= exc.status < 500 and exc.status != 429
        return REFUSED if permanent else OK
    return _install_and_reload(out, config, key, issued, state)


def _issuer_of(cert: x509.Certificate) -> str:
    """The issuing CA's key id as the API names it (hex SHA-1 of its public key), from
    the certificate's authority key identifier: for when state.json was lost."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return ""
    return aki.key_identifier.hex() if aki.key_identifier else ""


def _still_failing(config: AgentConfig, state: schedule.RenewalState, not_after: datetime) -> int:
    log.error(
        "RENEWAL FAILING in the last 10%% of the certificate's life: %s (serial %s) expires "
        "at %s; %d failed attempts, last: %s; next attempt after %s",
        ", ".join(config.names),
        state.serial,
        iso(not_after),
        state.failures,
        state.last_error,
        state.next_attempt,
    )
    return FAILING_LATE


def _install_and_reload(
    out: Path,
    config: AgentConfig,
    key: ec.EllipticCurvePrivateKey,
    issued: Issued,
    previous: schedule.RenewalState | None,
) -> int:
    p12 = _pkcs12(key, issued, config.p12_password) if config.p12 else None
    certset.install(
        out, certset.CertSet(key_pem(key), issued.certificate, issued.chain, p12), issued.serial
    )
    state = schedule.with_window(
        None,
        issuer=issued.issuer,
        serial=issued.serial,
        window=(issued.renewal_start, issued.renewal_end),
        source="server",
        rng=random.SystemRandom(),
    )
    if previous is not None:
        state = replace(state, failures=0, next_attempt=None, last_error=None)
    state.save(out)
    log.info(
        "installed %s (serial %s, until %s) in %s/current; renews at %s",
        ", ".join(issued.names),
        issued.serial,
        iso(issued.not_after),
        out,
        state.renew_at,
    )
    error = run_reload(
        out=out, command=config.reload, signal_name=config.signal, pid_file=config.pid_file
    )
    if error:
        log.error("RELOAD FAILED after installing %s (the set stays): %s", issued.serial, error)
        return RELOAD_FAILED
    return OK


def _pkcs12(key: ec.EllipticCurvePrivateKey, issued: Issued, password: str | None) -> bytes:
    cert = x509.load_pem_x509_certificate(issued.certificate.encode())
    chain = x509.load_pem_x509_certificates(issued.chain.encode()) if issued.chain.strip() else []
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        b"certsight-agent",
        key,
        cert,
        chain,
        encryption,
    )
