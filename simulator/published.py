"""The inventory as files (CA certificates, issuance events, CRLs) and as the LAKE rows
the ingest makes of those files.

Server certificates are issued with ``certsight issue``, which records each one as an
``issued`` event under ``raw/issuance/`` (docs/access-logs.md): the event names the
profile, the requester and the CA backend, and carries the certificate itself. The
simulator writes one object of events per day of issuance, each event made by
production's own ``issuance.operations.issuance_event``. CA certificates are
PEM files, CRLs DER, one per CA, as of the end of the simulation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from cryptography import x509

from ingest.schema import TABLES, TIMESTAMP
from issuance.operations import issuance_event
from pki.certificates import IssuedCertificate
from pki.serials import serial_hex
from pki.store.base import CertificateRecord
from simulator.config import DAY_US, HOUR_US, from_us
from simulator.delivery import Crls
from simulator.enterprise import Enterprise
from simulator.inventory import NEVER
from simulator.issuance import CA_BACKEND
from simulator.layout import authority_object, crl_object, issuance_object
from simulator.pki import crl_der, derive_key, leaf_certificate

KEY_ALGORITHM = "ec-p256"  # every leaf key is P-256 (pki.derive_key)


@dataclass(frozen=True)
class Batch:
    relative: str
    certificates: list[int]  # inventory indices, in file order


def issuance_batches(enterprise: Enterprise) -> list[Batch]:
    """The issuance events' objects: certsight's certificates by day of issuance, each
    in time order."""
    issued = enterprise.issuance.issued_at_us
    grouped: dict[str, list[int]] = {}
    for index in enterprise.issuance.order().tolist():
        day_start = int(issued[index]) // DAY_US * DAY_US
        grouped.setdefault(issuance_object(enterprise.config.seed, day_start), []).append(index)
    return [Batch(name, found) for name, found in sorted(grouped.items())]


def leaf(enterprise: Enterprise, index: int) -> x509.Certificate:
    certificates, servers = enterprise.certificates, enterprise.servers
    server = int(certificates.server[index])
    issuer = enterprise.hierarchy.issuing[int(certificates.ca[index])]
    return leaf_certificate(
        issuer,
        serial=certificates.serial[index],
        host=servers.host[server],
        address=servers.ip[server] if servers.ip_san[server] else None,
        not_before=from_us(int(certificates.not_before_us[index])),
        not_after=from_us(int(certificates.not_after_us[index])),
        key=derive_key(f"leaf-{index}", enterprise.config.seed),
    )


def _sans(enterprise: Enterprise, server: int) -> list[str]:
    servers = enterprise.servers
    host = servers.host[server]
    return [host, servers.ip[server]] if servers.ip_san[server] else [host]


def certificate_record(enterprise: Enterprise, index: int) -> CertificateRecord:
    """The store's record of a certificate certsight issued, as ``certsight issue`` makes it."""
    certificates, issuance = enterprise.certificates, enterprise.issuance
    server = int(certificates.server[index])
    return CertificateRecord(
        issuer_key_sha1=enterprise.hierarchy.issuing[int(certificates.ca[index])].key_sha1,
        serial=certificates.serial_hex[index],
        subject=f"CN={enterprise.servers.host[server]}",
        sans=tuple(_sans(enterprise, server)),
        not_before=from_us(int(certificates.not_before_us[index])),
        not_after=from_us(int(certificates.not_after_us[index])),
        profile=issuance.profile[index],
        key_algorithm=KEY_ALGORITHM,
        requester=issuance.requester[index],
        issued_at=from_us(int(issuance.issued_at_us[index])),
        ca_backend=CA_BACKEND,
    )


def issuance_records(enterprise: Enterprise, batch: Batch) -> list[dict[str, Any]]:
    """The ``issued`` events of one batch, exactly as ``certsight issue`` writes them."""
    return [
        issuance_event(IssuedCertificate(leaf(enterprise, i), certificate_record(enterprise, i)))
        for i in batch.certificates
    ]


def crl_entries(enterprise: Enterprise, ca: int) -> list[tuple[int, int, str]]:
    """(serial, revoked at, reason) of one issuing CA, by time."""
    certificates = enterprise.certificates
    mine = np.flatnonzero((certificates.ca == ca) & (certificates.revoked_us != NEVER))
    mine = mine[certificates.revoked_us[mine] < enterprise.config.end_us]
    mine = mine[np.argsort(certificates.revoked_us[mine], kind="stable")]
    found = []
    for index in mine.tolist():
        reason = certificates.reason[index] or "unspecified"
        found.append((certificates.serial[index], int(certificates.revoked_us[index]), reason))
    return found


def crl_files(enterprise: Enterprise) -> list[tuple[str, bytes]]:
    """Each issuing CA's CRL and the root's, as published at the end of the simulation."""
    config = enterprise.config
    crls: Crls = enterprise.delivery.crls
    this_update = config.end_us - HOUR_US
    files = []
    authorities = [*enterprise.hierarchy.issuing, enterprise.hierarchy.root]
    for index, authority in enumerate(authorities):
        entries = (
            crl_entries(enterprise, index) if index < len(enterprise.hierarchy.issuing) else []
        )
        number = int(crls.number(np.array([index]), np.array([this_update]), config.start_us)[0])
        der = crl_der(
            authority,
            [(serial, from_us(when), reason) for serial, when, reason in entries],
            number=number,
            this_update=from_us(this_update),
            next_update=from_us(this_update + DAY_US),
        )
        files.append((crl_object(authority.slug), der))
    return files


def authority_files(enterprise: Enterprise) -> list[tuple[str, bytes]]:
    return [(authority_object(a.slug), a.pem) for a in enterprise.hierarchy.all]


def _times(values: list[int]) -> pa.Array:
    return pa.array(np.array(values, np.int64)).cast(TIMESTAMP)


def certificate_rows(enterprise: Enterprise, prefix: str) -> pa.Table:
    """What the ingest reads from the issuance events: profile, requester, ``internal``
    backend, issued_at five minutes after notBefore."""
    certificates, issuance = enterprise.certificates, enterprise.issuance
    columns: dict[str, list[object]] = {name: [] for name in TABLES["certificates"].names}
    for batch in issuance_batches(enterprise):
        for position, index in enumerate(batch.certificates, start=1):
            record = certificate_record(enterprise, index)
            row = {
                "issuer_key_sha1": record.issuer_key_sha1,
                "serial": record.serial,
                "subject": record.subject,
                "sans": list(record.sans),
                "not_before": int(certificates.not_before_us[index]),
                "not_after": int(certificates.not_after_us[index]),
                "key_algorithm": record.key_algorithm,
                "profile": record.profile,
                "requester": record.requester,
                "ca_backend": record.ca_backend,
                "issued_at": int(issuance.issued_at_us[index]),
                "source": "certsight",
                "source_object": prefix + batch.relative,
                "source_line": position,
            }
            for name, value in row.items():
                columns[name].append(value)
    schema = TABLES["certificates"].schema
    arrays = []
    for field in schema:
        values = columns[field.name]
        if field.type == TIMESTAMP:
            arrays.append(_times(values))  # type: ignore[arg-type]
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def issuer_rows(enterprise: Enterprise, prefix: str) -> pa.Table:
    rows = []
    for authority in enterprise.hierarchy.all:
        cert = authority.certificate
        rows.append(
            {
                "issuer_key_sha1": authority.key_sha1,
                "subject": cert.subject.rfc4514_string(),
                "name_sha1": authority.name_sha1,
                "name_sha256": authority.name_sha256,
                "key_sha256": authority.key_sha256,
                "not_before": cert.not_valid_before_utc,
                "not_after": cert.not_valid_after_utc,
                "self_signed": cert.issuer == cert.subject,
                "source": "pem",
                "source_object": prefix + authority_object(authority.slug),
                "source_line": 1,
            }
        )
    return pa.Table.from_pylist(rows, TABLES["issuers"].schema)


def revocation_rows(enterprise: Enterprise, prefix: str) -> pa.Table:
    rows = []
    for index, authority in enumerate(enterprise.hierarchy.issuing):
        for serial, when, reason in crl_entries(enterprise, index):
            rows.append(
                {
                    "issuer_key_sha1": authority.key_sha1,
                    "serial": serial_hex(serial),
                    "revoked_at": from_us(when),
                    "revocation_reason": reason,
                    "source": "crl",
                    "source_object": prefix + crl_object(authority.slug),
                    "source_line": 1,
                }
            )
    return pa.Table.from_pylist(rows, TABLES["revocations"].schema)
