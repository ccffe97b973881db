"""Lambda entry points of the issuance unit: the issuance API, and the CRL updater.

One zip, two handlers, deployed as two functions, since each trusts different callers:

- ``api_handler``: the issuance API behind an API Gateway HTTP API or a Function URL
  (payload 2.0, the same event shape) with IAM auth.
  The caller is the IAM principal the URL's authorizer verified, mapped to a policy by
  ``[issuance.principals.*]``; bearer tokens are not used here (the Authorization
  header carries the SigV4 signature). Issuance events go to stdout as JSON
  (CloudWatch Logs, then RAW), like the responders' access records. Its resource
  policy must allow only ``lambda:InvokeFunctionUrl`` with ``FunctionUrlAuthType=AWS_IAM``
  (or API Gateway): whoever may invoke the function
  directly could write ``requestContext.authorizer.iam`` themselves. Other events are
  refused.
- ``handler``: the CRL updater, for EventBridge Scheduler and revocation events: sign
  every CA's CRL whose key this function holds and store it where the validation
  Lambda reads it. A Lambda container keeps no schedule between invocations, so
  "what is due" is simply "all of them"; CRL numbers come from the store's counter, so
  they keep increasing across containers.

Environment: ``CERTSIGHT_PKI_DIR`` (CA certificates; the issuing key as a file or, in
production, named in ca.json as a KMS key), ``CERTSIGHT_STORE`` (``dynamodb://TABLE``),
``CERTSIGHT_CRLS`` (``s3://BUCKET/PREFIX``), ``CERTSIGHT_CRL_VALIDITY`` (seconds,
default 86400), ``CERTSIGHT_SETTINGS`` (a certsight.toml with the ``[issuance]``
table: profiles, backends, principals), ``CERTSIGHT_ISSUANCE_STATE`` (a folder for the
service's order state; default ``/tmp/certsight-issuance``, which lasts as long as the
container: configure backends to answer synchronously in Lambda, docs/issuance.md).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from issuance.crl_updater import CrlSettings, sign_crls
from pki.layout import PkiLayout
from pki.store.crls import open_crl_store
from pki.store.factory import open_store

logger = Logger(service="certsight-issuance", level="INFO")
_api: Any = None


def _now() -> datetime:
    return datetime.now(UTC)


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"set {name} for the issuance function (CERTSIGHT_PKI_DIR, CERTSIGHT_STORE, "
            "CERTSIGHT_CRLS)"
        )
    return value


class _LoggerSink:
    """Issuance events as JSON log lines, the LAKE's field names at the top level."""

    def emit(self, record: Mapping[str, Any]) -> None:
        logger.info(str(record.get("event", "issuance")), extra=dict(record))

    def close(self) -> None:
        pass


def _api_handler() -> Any:
    """The API's ASGI app behind Mangum, built on first use and kept for the container."""
    global _api  # noqa: PLW0603 - one runtime per container is the Lambda model
    if _api is None:
        from mangum import Mangum

        from issuance.runtime import build_runtime
        from issuance.settings import IssuanceSettings

        settings_file = os.environ.get("CERTSIGHT_SETTINGS")
        document: dict[str, Any] = {}
        if settings_file:
            with Path(settings_file).open("rb") as handle:
                document = tomllib.load(handle).get("issuance", {})
        runtime = build_runtime(
            layout=PkiLayout(Path(_setting("CERTSIGHT_PKI_DIR"))),
            settings=IssuanceSettings.model_validate(document),
            store_uri=_setting("CERTSIGHT_STORE"),
            raw_dir=None,
            state_dir=Path(os.environ.get("CERTSIGHT_ISSUANCE_STATE", "/tmp/certsight-issuance")),  # noqa: S108 - Lambda's only writable folder
            clock=_now,
            secret=lambda name: os.environ.get(name) or None,
            events=_LoggerSink(),
        )
        _api = Mangum(runtime.app, lifespan="off")
    return _api


def api_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The issuance API: Function URL (or API Gateway HTTP API) requests only."""
    request = event.get("requestContext")
    if not isinstance(request, Mapping) or "http" not in request:
        raise ValueError("the issuance API function takes Function URL requests only")
    response: dict[str, Any] = _api_handler()(event, context)
    return response


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The CRL updater: any event signs and stores every CA's CRL whose key is here."""
    validity = int(os.environ.get("CERTSIGHT_CRL_VALIDITY", "86400"))
    settings = CrlSettings(
        refresh=timedelta(seconds=max(60, validity // 4)), validity=timedelta(seconds=validity)
    )
    store = open_store(_setting("CERTSIGHT_STORE"))
    try:
        built = sign_crls(
            PkiLayout(Path(_setting("CERTSIGHT_PKI_DIR"))),
            store,
            open_crl_store(_setting("CERTSIGHT_CRLS")),
            _now,
            settings,
        )
    finally:
        store.close()
    summary = {name: {"number": crl.number, "entries": crl.entries} for name, crl in built.items()}
    logger.info("crls signed", extra={"crls": summary, "trigger": event.get("source", "direct")})
    return {"crls": summary}


def reset_for_tests() -> None:
    global _api  # noqa: PLW0603
    _api = None
