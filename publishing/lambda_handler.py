"""Lambda entry point of the publishing unit: for now, the CA certificates.

Invoked on a schedule (EventBridge Scheduler) and after a CA change is deployed: it
publishes the root and issuing CA certificates (DER ``<name>.crt``, ``ca-bundle.pem``,
``ca-manifest.json``) where relying parties and the CDN fetch them. Unchanged files are
not rewritten, so most invocations write nothing.

Environment: ``CERTSIGHT_PKI_DIR`` (``root-ca.pem`` and ``issuing-ca.pem``: certificates
only; this function never reads or needs a key), ``CERTSIGHT_PUBLISH`` (a folder, or
``s3://BUCKET/PREFIX`` with endpoint and credentials from the standard AWS settings).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger

from pki.layout import PkiLayout
from pki.store.objects import ObjectStore, ObjectStoreError, open_object_store
from publishing.cacerts import PublishError, load_ca_certificates, publish_ca_certificates

logger = Logger(service="certsight-publishing", level="INFO")


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(
            f"set {name} for the publishing function (CERTSIGHT_PKI_DIR, CERTSIGHT_PUBLISH)"
        )
    return value


def open_destination(location: str) -> ObjectStore:
    """A folder path or ``s3://bucket[/prefix]``."""
    try:
        return open_object_store(location)
    except ObjectStoreError as exc:
        raise PublishError(f"publishing location: {exc}") from exc


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    cas = load_ca_certificates(PkiLayout(Path(_setting("CERTSIGHT_PKI_DIR"))))
    report = publish_ca_certificates(cas, open_destination(_setting("CERTSIGHT_PUBLISH")))
    summary = {
        "location": report.location,
        "written": list(report.written),
        "unchanged": list(report.unchanged),
    }
    logger.info(
        "ca certificates published", extra={**summary, "trigger": event.get("source", "direct")}
    )
    return summary
