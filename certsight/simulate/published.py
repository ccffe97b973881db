"""The inventory as files (CA certificates, leaf bundles, CRLs) and as the LAKE rows
the ingest makes of those files.

Leaf certificates are grouped per issuing CA and day of issuance into PEM bundles:
thousands of one-certificate files would cost the ingest an object each. Leaves
name their issuer through the Authority Key Identifier (the bundle carries no CA
certificate), which is how the ingest finds issuer keys for certificates of CAs it
has not seen in the same object. CRLs are DER, one per CA, as of the end of the
simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from cryptography.hazmat.primitives import serialization

from certsight.simulate.catalogue import serial_hex
from certsight.simulate.config import DAY_US, HOUR_US, from_us
from certsight.simulate.delivery import Crls
from certsight.simulate.enterprise import Enterprise
from certsight.simulate.inventory import NEVER
from certsight.simulate.layout import authority_object, certificate_object, crl_object
from certsight.simulate.pki import crl_der, derive_key, leaf_certificate
from ingest.schema import TABLES, TIMESTAMP


@dataclass(frozen=True)
class Bundle:
    relative: str
    certificates: list[int]  # inventory indices, in file order


def bundles(enterprise: Enterprise) -> list[Bundle]:
    certificates = enterprise.certificates
    issuing = enterprise.hierarchy.issuing
    order = np.lexsort((np.arange(len(certificates)), certificates.not_before_us))
    grouped: dict[str, list[int]] = {}
    for index in order.tolist():
        day = from_us(int(certificates.not_before_us[index])).strftime("%Y-%m-%d")
        slug = issuing[int(certificates.ca[index])].slug
        grouped.setdefault(certificate_object(day, slug), []).append(index)
    return [Bundle(name, found) for name, found in sorted(grouped.items())]


def leaf_pem(enterprise: Enterprise, index: int) -> bytes:
    certificates, servers = enterprise.certificates, enterprise.servers
    server = int(certificates.server[index])
    issuer = enterprise.hierarchy.issuing[int(certificates.ca[index])]
    cert = leaf_certificate(
        issuer,
        serial=certificates.serial[index],
        host=servers.host[server],
        address=servers.ip[server] if servers.ip_san[server] else None,
        not_before=from_us(int(certificates.not_before_us[index])),
        not_after=from_us(int(certificates.not_after_us[index])),
        key=derive_key(f"leaf-{index}", enterprise.config.seed),
    )
    return cert.public_bytes(serialization.Encoding.PEM)


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
    """What the ingest reads from the leaf bundles: ``imported`` certificates whose
    issued_at is their notBefore (a PEM file says nothing about issuance)."""
    certificates, servers = enterprise.certificates, enterprise.servers
    issuing = enterprise.hierarchy.issuing
    columns: dict[str, list[object]] = {name: [] for name in TABLES["certificates"].names}
    for bundle in bundles(enterprise):
        for position, index in enumerate(bundle.certificates, start=1):
            server = int(certificates.server[index])
            host = servers.host[server]
            sans = [host, servers.ip[server]] if servers.ip_san[server] else [host]
            row = {
                "issuer_key_sha1": issuing[int(certificates.ca[index])].key_sha1,
                "serial": certificates.serial_hex[index],
                "subject": f"CN={host}",
                "sans": sans,
                "not_before": int(certificates.not_before_us[index]),
                "not_after": int(certificates.not_after_us[index]),
                "key_algorithm": "ec-p256",
                "profile": "imported",
                "requester": None,
                "ca_backend": "external",
                "issued_at": int(certificates.not_before_us[index]),
                "source": "pem",
                "source_object": prefix + bundle.relative,
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
