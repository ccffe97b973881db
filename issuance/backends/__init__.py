"""CA backends behind one interface (``base.CaBackend``), one module per CA service.

The registry maps the ``type`` of an ``[issuance.backends.NAME]`` table to the class
that serves it. Modules are imported when a backend of their type is configured, so a
home that only uses the internal CA never imports boto3 or the ACME client.
"""

from __future__ import annotations

import importlib

from issuance.backends.base import BackendConfigError, BackendContext, CaBackend
from issuance.backends.settings import BackendSettings

# type -> "module:Class"
REGISTRY: dict[str, str] = {
    "internal": "issuance.backends.internal:InternalBackend",
    "aws-pca": "issuance.backends.aws_pca:AwsPcaBackend",
    "acme": "issuance.backends.acme_upstream:AcmeBackend",
}


def open_backend(name: str, settings: BackendSettings, context: BackendContext) -> CaBackend:
    """The backend a profile names, built from its table."""
    target = REGISTRY.get(settings.type)
    if target is None:  # the settings model only admits registered types
        raise BackendConfigError(f"unknown CA backend type {settings.type!r}")
    module_name, attribute = target.split(":")
    cls = getattr(importlib.import_module(module_name), attribute)
    backend: CaBackend = cls.from_settings(name, settings, context)
    return backend
