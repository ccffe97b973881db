"""Lambda entry point of the issuance unit: for now, the CRL updater.

Invoked by EventBridge Scheduler (every few minutes, and well within the CRLs' refresh
period) and by revocation events. Each invocation signs every CA's CRL whose keys this
function holds and stores it where the validation Lambda reads it; a Lambda container
keeps no schedule between invocations, so "what is due" is simply "all of them", and a
CRL number is spent per invocation (numbers come from the store's counter, so they keep
increasing across containers).

Environment: ``CERTSIGHT_PKI_DIR`` (CA certificates and keys; KMS keys arrive with the
issuance API), ``CERTSIGHT_STORE`` (``dynamodb://TABLE``), ``CERTSIGHT_CRLS``
(``s3://BUCKET/PREFIX``), ``CERTSIGHT_CRL_VALIDITY`` (seconds, default 86400).
"""

from __future__ import annotations

import os
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


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
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
