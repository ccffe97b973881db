"""Where signed CRLs meet: the issuance module's CRL updater puts, the responders get.

The internet-facing responder holds no CA key (Boulder's crl-updater split): it serves
whatever bytes the updater stored last, as ``<name>.crl`` objects in the CRL location
(a folder, by default ``HOME/pki/crl``, or ``s3://bucket/prefix``; ``pki.store.objects``
does the writing and reading).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pki.store.objects import ObjectStore, ObjectStoreError, open_object_store

CRL_MEDIA_TYPE = "application/pkix-crl"

CrlStoreError = ObjectStoreError


@dataclass(frozen=True, slots=True)
class StoredCrl:
    name: str
    der: bytes
    version: str  # changes whenever the bytes do


class CrlStore(Protocol):
    """One object per CA, named like the distribution point: ``<name>.crl``."""

    location: str

    def put(self, name: str, der: bytes) -> None: ...

    def get(self, name: str) -> StoredCrl | None: ...

    def version(self, name: str) -> str | None: ...


class ObjectCrlStore:
    """CRLs as ``<name>.crl`` objects in an object store."""

    def __init__(self, objects: ObjectStore) -> None:
        self._objects = objects
        self.location = objects.location

    def put(self, name: str, der: bytes) -> None:
        self._objects.put(f"{name}.crl", der, CRL_MEDIA_TYPE)

    def get(self, name: str) -> StoredCrl | None:
        stored = self._objects.get(f"{name}.crl")
        return None if stored is None else StoredCrl(name, stored.data, stored.version)

    def version(self, name: str) -> str | None:
        return self._objects.version(f"{name}.crl")


def open_crl_store(location: str) -> CrlStore:
    """A folder path or ``s3://bucket[/prefix]``."""
    return ObjectCrlStore(open_object_store(location))
