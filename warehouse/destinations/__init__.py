"""Where alerts and reports go: one extension point, one module per service.

``base`` holds the base class, the registry keyed by slug and the shared errors;
``file`` (JSON lines), ``webhook`` and ``sns`` take alerts, ``folder`` and ``s3``
take report files; ``tables`` models the ``[alerts]`` and ``[reports]`` tables of
certsight.toml from the registered services. Importing the package registers them all.
"""

from warehouse.destinations import file, folder, s3, sns, webhook
from warehouse.destinations.base import (
    AlertSink,
    Context,
    DeliveryError,
    Destination,
    ReportStore,
    build_sink,
    build_store,
)
from warehouse.destinations.tables import AlertsSettings, ReportsSettings

__all__ = [
    "AlertSink",
    "AlertsSettings",
    "Context",
    "DeliveryError",
    "Destination",
    "ReportStore",
    "ReportsSettings",
    "build_sink",
    "build_store",
    "file",
    "folder",
    "s3",
    "sns",
    "webhook",
]
