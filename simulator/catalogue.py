"""Every distinct CertID the simulation's requests name, with what the responder knows.

A CertID (RFC 6960 4.1.1) is (hash algorithm, issuer name hash, issuer key hash,
serial). Each certificate of the inventory has two, SHA-1 (entry ``2 * cert``) and
SHA-256 (``2 * cert + 1``); incidents append CertIDs of serials nobody issued and of
issuers the enterprise does not have. Requests refer to entries by index, so a
billion requests cost a billion small integers, and each distinct request is
DER-encoded once (for GET paths) however often it is sent.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from enum import IntEnum
from urllib.parse import quote

import numpy as np
import pyarrow as pa
from asn1crypto import ocsp as asn1_ocsp

from pki.serials import serial_hex
from simulator.inventory import Certificates
from simulator.pki import Authority

HASHES = ("sha1", "sha256")


class Kind(IntEnum):
    INVENTORY = 0  # a certificate the enterprise issued
    UNKNOWN_SERIAL = 1  # a real issuer, a serial it never issued
    UNKNOWN_ISSUER = 2  # an issuer that is not the enterprise's


@dataclass(frozen=True)
class CatalogueArrays:
    """The catalogue as columns, for vectorised ``take`` by entry index; CertID issuers
    (name and key hash as sent) numbered apart, since there are only a few of them."""

    hash_index: np.ndarray  # int8 into HASHES, per entry
    hash_algorithm: pa.Array
    name_hash: pa.Array
    key_hash: pa.Array
    serial: pa.Array
    issuer_key_sha1: pa.Array
    cert: np.ndarray  # int64, -1 when not in the inventory
    kind: np.ndarray  # int8, Kind
    issuer_index: np.ndarray  # int32 per entry
    issuer_name_hash: pa.Array  # per issuer
    issuer_key_hash: pa.Array
    issuer_sha1: pa.Array  # "" for issuers that are not the enterprise's
    issuer_known: np.ndarray


@dataclass
class Catalogue:
    hash_index: list[int] = field(default_factory=list)  # into HASHES
    name_hash: list[str] = field(default_factory=list)
    key_hash: list[str] = field(default_factory=list)
    serial: list[int] = field(default_factory=list)
    issuer_key_sha1: list[str | None] = field(default_factory=list)  # None: not resolvable
    cert: list[int] = field(default_factory=list)  # -1: not in the inventory
    kind: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.serial)

    def add(
        self, algorithm: int, issuer: Authority, serial: int, cert: int, kind: Kind, known: bool
    ) -> int:
        name, key = issuer.hashes(HASHES[algorithm])
        self.hash_index.append(algorithm)
        self.name_hash.append(name)
        self.key_hash.append(key)
        self.serial.append(serial)
        self.issuer_key_sha1.append(issuer.key_sha1 if known else None)
        self.cert.append(cert)
        self.kind.append(int(kind))
        return len(self.serial) - 1

    def serial_hex(self, entry: int) -> str:
        return serial_hex(self.serial[entry])

    def arrays(self) -> CatalogueArrays:
        identities = list(zip(self.name_hash, self.key_hash, self.issuer_key_sha1, strict=True))
        issuers: dict[tuple[str, str, str | None], int] = {}
        for identity in identities:
            issuers.setdefault(identity, len(issuers))
        found = list(issuers)
        return CatalogueArrays(
            hash_index=np.array(self.hash_index, np.int8),
            hash_algorithm=pa.array([HASHES[h] for h in self.hash_index], pa.string()),
            name_hash=pa.array(self.name_hash, pa.string()),
            key_hash=pa.array(self.key_hash, pa.string()),
            serial=pa.array([serial_hex(s) for s in self.serial], pa.string()),
            issuer_key_sha1=pa.array(self.issuer_key_sha1, pa.string()),
            cert=np.array(self.cert, np.int64),
            kind=np.array(self.kind, np.int8),
            issuer_index=np.array([issuers[i] for i in identities], np.int32),
            issuer_name_hash=pa.array([i[0] for i in found], pa.string()),
            issuer_key_hash=pa.array([i[1] for i in found], pa.string()),
            issuer_sha1=pa.array([i[2] or "" for i in found], pa.string()),
            issuer_known=np.array([i[2] is not None for i in found], bool),
        )


def inventory_catalogue(certificates: Certificates, issuing: tuple[Authority, ...]) -> Catalogue:
    catalogue = Catalogue()
    for index, (ca, serial) in enumerate(
        zip(certificates.ca.tolist(), certificates.serial, strict=True)
    ):
        for algorithm in (0, 1):
            catalogue.add(algorithm, issuing[ca], serial, index, Kind.INVENTORY, known=True)
    return catalogue


def request_der(catalogue: Catalogue, entry: int) -> bytes:
    """An OCSPRequest naming one CertID, no nonce: what a GET carries (RFC 6960 A.1)."""
    cert_id = asn1_ocsp.CertId(
        {
            "hash_algorithm": {"algorithm": HASHES[catalogue.hash_index[entry]]},
            "issuer_name_hash": bytes.fromhex(catalogue.name_hash[entry]),
            "issuer_key_hash": bytes.fromhex(catalogue.key_hash[entry]),
            "serial_number": catalogue.serial[entry],
        }
    )
    request = asn1_ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}})
    der: bytes = request.dump()
    return der


@dataclass(frozen=True)
class GetPaths:
    """Per entry: the path a client sends (raw and escaped base64) and the cs-uri-stem
    CloudFront logs for it (which escapes ``%`` once more)."""

    sent_raw: pa.Array
    sent_escaped: pa.Array
    stem_raw: pa.Array
    stem_escaped: pa.Array
    der_length: np.ndarray


def get_paths(catalogue: Catalogue) -> GetPaths:
    sent_raw, sent_escaped, stem_escaped, lengths = [], [], [], []
    for entry in range(len(catalogue)):
        der = request_der(catalogue, entry)
        text = base64.b64encode(der).decode("ascii")
        escaped = text.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
        sent_raw.append("/ocsp/" + text)
        sent_escaped.append("/ocsp/" + escaped)
        stem_escaped.append("/ocsp/" + quote(escaped, safe="/+="))
        lengths.append(len(der))
    raw = pa.array(sent_raw, pa.string())
    return GetPaths(
        sent_raw=raw,
        sent_escaped=pa.array(sent_escaped, pa.string()),
        stem_raw=raw,  # base64's own characters are safe in a CloudFront log
        stem_escaped=pa.array(stem_escaped, pa.string()),
        der_length=np.array(lengths, np.int64),
    )


def der_lengths(catalogue: Catalogue) -> np.ndarray:
    """Request sizes without encoding anything: a one-CertID request is the CertID
    (algorithm identifier, two hashes of 20 or 32 bytes, the serial as a minimal
    INTEGER) wrapped in four SEQUENCEs, each header two bytes while under 128."""
    sizes = []
    for algorithm, serial in zip(catalogue.hash_index, catalogue.serial, strict=True):
        serial_bytes = serial.bit_length() // 8 + 1
        hash_bytes = 20 if algorithm == 0 else 32
        oid_bytes = 5 if algorithm == 0 else 9
        algorithm_id = 2 + (2 + oid_bytes) + 2  # SEQUENCE { OID, NULL }
        content = algorithm_id + 2 * (2 + hash_bytes) + 2 + serial_bytes
        sizes.append(2 + content + 4 * 2)
    return np.array(sizes, np.int64)
