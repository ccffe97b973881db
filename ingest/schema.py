"""The LAKE tables: the one definition the writer, the tests and (later) Glue use.

Every table is Hive-partitioned by ``dt`` (the UTC day of the row's event) and
keeps where each row came from (``source``, ``source_object``). Timestamps are
UTC with microseconds; everything else is a plain type that pyarrow, DuckDB,
pandas, Spark and Athena read alike. docs/lake.md renders these definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    """A column and the values it admits: the ingest checks every value against its
    column before writing (ingest/conform.py), so one odd record is quarantined instead
    of failing the Parquet write of all its neighbours."""

    name: str
    type: pa.DataType
    doc: str
    nullable: bool = True
    minimum: float | None = None  # numbers: beyond the type's own range
    maximum: float | None = None


@dataclass(frozen=True)
class Table:
    name: str
    grain: str
    time_column: str  # sorts rows within a file and decides the dt partition
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns],
            metadata={"table": self.name, "grain": self.grain},
        )

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


_ORIGIN = (
    Column(
        "source",
        pa.string(),
        "where the row was logged: lambda (responder), cloudfront "
        "(CDN), certsight (CLI events), pem, crl",
        nullable=False,
    ),
    Column("source_object", pa.string(), "URI of the RAW object the row came from", nullable=False),
    Column("source_line", pa.int64(), "1-based line (or entry) within source_object", minimum=0),
)

_REQUEST = (
    Column("event_time", TIMESTAMP, "when the request was handled (UTC)", nullable=False),
    Column("request_id", pa.string(), "the responder's or the CDN's request id"),
    Column("cf_request_id", pa.string(), "CloudFront x-edge-request-id: joins CDN and origin"),
    Column("client_ip", pa.string(), "the viewer's address"),
    Column("user_agent", pa.string(), "User-Agent as sent"),
    Column("http_method", pa.string(), "GET, POST, HEAD, ..."),
    Column("http_status", pa.int32(), "HTTP status sent", minimum=0, maximum=999),
)

OCSP_REQUESTS = Table(
    "ocsp_requests",
    "one row per CertID in an OCSP request (one row without CertID fields when the request "
    "named none: malformed, refused, or a CDN POST whose body is not logged)",
    "event_time",
    (
        *_REQUEST,
        Column(
            "response_status",
            pa.string(),
            "successful, malformedRequest, unauthorized, "
            "tryLater; null when no OCSP answer was given (HTTP 405/413) or unknown (CDN)",
        ),
        Column(
            "cert_status",
            pa.string(),
            "good, revoked, unknown; null where not known "
            "(a CDN row gains it from the responder's log of the same request)",
        ),
        Column("hash_algorithm", pa.string(), "CertID hash: sha1, sha256, ... or a dotted OID"),
        Column("issuer_name_hash", pa.string(), "hex, as the client sent it"),
        Column("issuer_key_hash", pa.string(), "hex, as the client sent it"),
        Column(
            "issuer_key_sha1",
            pa.string(),
            "certsight's issuer key when the responder "
            "resolved it (hex SHA-1 of the issuer's public key bits)",
        ),
        Column("serial", pa.string(), "lowercase hex, even number of digits"),
        Column("nonce", pa.bool_(), "the request carried a nonce (RFC 8954)"),
        Column("cache_hit", pa.bool_(), "answered from a cache (responder or CDN)"),
        Column(
            "latency_ms",
            pa.float64(),
            "time to answer, milliseconds (the CDN's for "
            "cloudfront rows, the responder's for lambda rows)",
            minimum=0,
        ),
        Column(
            "origin_latency_ms",
            pa.float64(),
            "cloudfront rows that reached the "
            "responder: the responder's own time, from its log (joined on cf_request_id)",
            minimum=0,
        ),
        Column("request_bytes", pa.int64(), "request body size", minimum=0),
        Column("response_bytes", pa.int64(), "response body size", minimum=0),
        Column("path", pa.string(), "request path (OCSP GETs carry the request in it)"),
        *_ORIGIN,
    ),
)

CRL_FETCHES = Table(
    "crl_fetches",
    "one row per CRL download",
    "event_time",
    (
        *_REQUEST,
        Column("path", pa.string(), "request path, /crl/<ca>.crl"),
        Column("crl_name", pa.string(), "the <ca> of the path"),
        Column("issuer_key_sha1", pa.string(), "the CA that signed the CRL"),
        Column("crl_number", pa.int64(), "CRLNumber served", minimum=0),
        Column("bytes", pa.int64(), "response body size", minimum=0),
        Column("cache_hit", pa.bool_(), "served from a cache or as 304 Not Modified"),
        Column("latency_ms", pa.float64(), "time to answer, milliseconds", minimum=0),
        *_ORIGIN,
    ),
)

ARTIFACT_DOWNLOADS = Table(
    "artifact_downloads",
    "one row per download of a published file (CA certificates, trust stores, agents, docs) "
    "and per request to a path the services do not serve",
    "event_time",
    (
        *_REQUEST,
        Column("path", pa.string(), "request path"),
        Column("kind", pa.string(), "ca-certificate, truststore, agent, script, doc, other"),
        Column("name", pa.string(), "artifact name"),
        Column("version", pa.string(), "artifact version when the path carries one"),
        Column("channel", pa.string(), "release channel when the path carries one"),
        Column("bytes", pa.int64(), "response body size", minimum=0),
        *_ORIGIN,
    ),
)

CERTIFICATES = Table(
    "certificates",
    "one row per certificate issued or imported (an inventory event)",
    "issued_at",
    (
        Column("issuer_key_sha1", pa.string(), "issuer key (hex SHA-1)", nullable=False),
        Column("serial", pa.string(), "lowercase hex, even length", nullable=False),
        Column("subject", pa.string(), "RFC 4514 subject"),
        Column("sans", pa.list_(pa.string()), "DNS names and IP addresses"),
        Column("not_before", TIMESTAMP, "validity start"),
        Column("not_after", TIMESTAMP, "validity end"),
        Column("key_algorithm", pa.string(), "ec-p256, rsa-2048, ..."),
        Column("profile", pa.string(), "tls-server, sub-ca, ocsp-signer, ..."),
        Column("requester", pa.string(), "who asked for it"),
        Column("ca_backend", pa.string(), "internal, aws-private-ca, external"),
        Column("issued_at", TIMESTAMP, "when it was issued (or imported)", nullable=False),
        *_ORIGIN,
    ),
)

REVOCATIONS = Table(
    "revocations",
    "one row per revocation event (from certsight revoke or a CRL entry); the warehouse "
    "applies them to the inventory, also for serials it has not seen issued",
    "revoked_at",
    (
        Column("issuer_key_sha1", pa.string(), "issuer key (hex SHA-1)", nullable=False),
        Column("serial", pa.string(), "lowercase hex, even length", nullable=False),
        Column("revoked_at", TIMESTAMP, "revocation time", nullable=False),
        Column("revocation_reason", pa.string(), "RFC 5280 reason name"),
        *_ORIGIN,
    ),
)

ISSUERS = Table(
    "issuers",
    "one row per CA certificate seen: the hashes that let CertIDs of any hash algorithm "
    "find their issuer",
    "not_before",
    (
        Column(
            "issuer_key_sha1",
            pa.string(),
            "certsight's issuer key: SHA-1 of the public "
            "key bits (hex); also the SHA-1 CertID key hash",
            nullable=False,
        ),
        Column("subject", pa.string(), "RFC 4514 subject"),
        Column("name_sha1", pa.string(), "SHA-1 of the DER subject: the SHA-1 CertID name hash"),
        Column("name_sha256", pa.string(), "SHA-256 CertID name hash"),
        Column("key_sha256", pa.string(), "SHA-256 CertID key hash"),
        Column("not_before", TIMESTAMP, "validity start", nullable=False),
        Column("not_after", TIMESTAMP, "validity end"),
        Column("self_signed", pa.bool_(), "a root"),
        *_ORIGIN,
    ),
)

QUARANTINE = Table(
    "quarantine",
    "one row per input record that could not be ingested, with the reason",
    "ingested_at",
    (
        Column("source", pa.string(), "detected format of the object", nullable=False),
        Column("source_object", pa.string(), "URI of the RAW object", nullable=False),
        Column("line", pa.int64(), "1-based line (or entry) within the object"),
        Column("raw", pa.string(), "the record as read, cut to 2,000 characters"),
        Column("reason", pa.string(), "why it was not ingested", nullable=False),
        Column("ingested_at", TIMESTAMP, "when the ingest ran", nullable=False),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        OCSP_REQUESTS,
        CRL_FETCHES,
        ARTIFACT_DOWNLOADS,
        CERTIFICATES,
        REVOCATIONS,
        ISSUERS,
        QUARANTINE,
    )
}


def _type_name(data_type: pa.DataType) -> str:
    if data_type == TIMESTAMP:
        return "timestamp (UTC, µs)"
    if pa.types.is_list(data_type):
        return f"list<{_type_name(data_type.value_type)}>"
    return {"bool": "boolean"}.get(str(data_type), str(data_type))


def _range_note(column: Column) -> str:
    if column.minimum is None and column.maximum is None:
        return ""
    if column.maximum is None:
        return f" (at least {column.minimum:g})"
    return f" ({column.minimum:g}..{column.maximum:g})"


def markdown() -> str:
    """The tables as docs/lake.md shows them (a test keeps the two identical)."""
    parts = []
    for table in TABLES.values():
        parts += [
            f"### `{table.name}`",
            "",
            f"Grain: {table.grain}. Partitioned by `dt`, the UTC day of `{table.time_column}`.",
            "",
            "| column | type | null | meaning |",
            "|---|---|---|---|",
        ]
        parts += [
            f"| `{c.name}` | {_type_name(c.type)} | {'yes' if c.nullable else 'no'} "
            f"| {c.doc}{_range_note(c)} |"
            for c in table.columns
        ]
        parts.append("")
    return "\n".join(parts)


if __name__ == "__main__":
    print(markdown())
