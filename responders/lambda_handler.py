"""Lambda entry point for the validation services (OCSP and CRL).

Environment: ``CERTSIGHT_PKI_DIR`` (CA certificates and the signer key, packaged
or mounted; no CA key), ``CERTSIGHT_STORE`` (``dynamodb://TABLE`` in production),
``CERTSIGHT_CRLS`` (where the CRL updater stores CRLs: ``s3://BUCKET/PREFIX`` in
production, default ``CERTSIGHT_PKI_DIR/crl``), ``CERTSIGHT_ROLES`` (``ocsp``, ``crl``
or ``ocsp,crl``), ``CERTSIGHT_ORIGIN_SECRET`` (the value, or comma-separated values
while rotating, of the ``X-Certsight-Origin-Secret`` header the CDN adds: when set,
requests without it are refused with 403), ``CERTSIGHT_TRUST_VIEWER_ADDRESS`` (``1``:
log ``CloudFront-Viewer-Address`` as the client; only together with the origin
secret), ``CERTSIGHT_STATUS_MAX_AGE`` (seconds without a successful read of the store's
change feed after which remembered statuses are no longer signed; default 300),
``CERTSIGHT_CDN_MAX_AGE`` (the cap on the ``max-age`` of OCSP and CRL answers, whole
seconds, default 300: how long CloudFront answers from its copy before asking here).
Access-log records go to stdout as JSON through Powertools Logger, one per request, with
the LAKE's field names at the top level. There is no ``/metrics`` here: a failing change
feed shows as ``status feed ...`` log lines (responders/web/feed_health.py), one per
transition and a reminder a minute, for CloudWatch metric filters to count.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from responders.web.clientip import parse_secrets
from responders.web.exchange import DEFAULT_CDN_MAX_AGE
from responders.web.lambda_adapter import LambdaFrontend
from responders.web.runtime import ORIGIN_SECRET_ENV, RuntimeConfig, build_runtime

TRUE = ("1", "true", "yes", "on")
CDN_MAX_AGE_ENV = "CERTSIGHT_CDN_MAX_AGE"

# INFO explicitly: access records are the product's data, not debug output. (Only
# AWS_LAMBDA_LOG_LEVEL above INFO, set on the function, would silence them.)
logger = Logger(service="certsight-validation", level="INFO")
_frontend: LambdaFrontend | None = None


def _config_from_env() -> RuntimeConfig:
    pki_dir = os.environ.get("CERTSIGHT_PKI_DIR")
    store = os.environ.get("CERTSIGHT_STORE")
    if not pki_dir or not store:
        raise RuntimeError("set CERTSIGHT_PKI_DIR and CERTSIGHT_STORE for the Lambda function")
    roles = tuple(r.strip() for r in os.environ.get("CERTSIGHT_ROLES", "ocsp,crl").split(","))
    trust = os.environ.get("CERTSIGHT_TRUST_VIEWER_ADDRESS", "").strip().lower() in TRUE
    if trust and not parse_secrets(os.environ.get(ORIGIN_SECRET_ENV)):
        # Behind a Function URL, anyone may send the header: believe it only on requests
        # that prove they came through the CDN.
        logger.warning(
            "CERTSIGHT_TRUST_VIEWER_ADDRESS is set without CERTSIGHT_ORIGIN_SECRET: "
            "CloudFront-Viewer-Address is not trusted; the peer address is logged"
        )
        trust = False
    max_age = os.environ.get("CERTSIGHT_STATUS_MAX_AGE", "").strip() or "300"
    if not (max_age.isascii() and max_age.isdigit()):
        raise RuntimeError(f"CERTSIGHT_STATUS_MAX_AGE must be whole seconds, not {max_age!r}")
    return RuntimeConfig(
        pki_dir=pki_dir,
        raw_dir=None,
        store_uri=store,
        roles=roles,
        ocsp_validity_s=int(os.environ.get("CERTSIGHT_OCSP_VALIDITY", "3600")),
        poll_interval_s=float(os.environ.get("CERTSIGHT_POLL_SECONDS", "2")),
        status_max_age_s=int(max_age),
        cdn_max_age_s=_cdn_max_age(),
        crl_location=os.environ.get("CERTSIGHT_CRLS") or None,
        trust_viewer_address=trust,
    )


def _cdn_max_age() -> int:
    """Refused here, naming the variable, rather than as a bare ValueError later."""
    raw = os.environ.get(CDN_MAX_AGE_ENV, "").strip()
    if not raw:
        return DEFAULT_CDN_MAX_AGE
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise RuntimeError(
            f"{CDN_MAX_AGE_ENV} must be a positive whole number of seconds, not {raw!r}"
        )
    return int(raw)


def frontend() -> LambdaFrontend:
    """Built on first use and kept for the container's life (warm invocations reuse it)."""
    global _frontend  # noqa: PLW0603 - one runtime per container is the Lambda model
    if _frontend is None:
        _frontend = LambdaFrontend(build_runtime(_config_from_env(), adapter="lambda"))
    return _frontend


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    result, exchange = frontend().handle(event)
    if exchange is not None and exchange.record is not None:
        logger.info(exchange.log_kind or "request", extra=exchange.record)
    return result


def reset_for_tests() -> None:
    global _frontend  # noqa: PLW0603
    _frontend = None
