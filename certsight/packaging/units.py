"""The unit table: which Lambda function ships which of our packages and requirements.

One place for it, so that docs/deployment.md, the tests and the build agree on what a
zip is; and the one list of what the Lambda runtime provides (left out of every zip).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from packaging.utils import NormalizedName, canonicalize_name

from certsight.packaging.errors import UnknownUnitError

# What the AWS Lambda Python runtime already provides (boto3 and the libraries it pulls
# in): left out of every zip, so a unit uses the runtime's SDK, patched by AWS, and stays
# small. The one place that says so; docs/deployment.md repeats it for operators. A
# unit that needs a newer SDK than the runtime's must bundle it on purpose, by removing
# the name here, not by accident.
RUNTIME_PROVIDED: Final[frozenset[NormalizedName]] = frozenset(
    canonicalize_name(name)
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
)

# Every unit imports pki/, so every unit carries pki's own requirements.
_PKI_REQUIREMENTS = ("cryptography", "asn1crypto", "orjson", "boto3")


@dataclass(frozen=True)
class Unit:
    """One deployable unit: a Lambda function's code, named like its zip."""

    name: str
    handler: str  # what the function's Handler setting says: module.function
    packages: tuple[str, ...]  # ours, importable by these names
    requirements: tuple[str, ...]  # top-level third-party requirements (PEP 508)
    summary: str


UNITS: Final[Mapping[str, Unit]] = {
    unit.name: unit
    for unit in (
        Unit(
            "validation",
            "responders.lambda_handler.handler",
            ("responders", "pki"),
            (*_PKI_REQUIREMENTS, "aws-lambda-powertools", "cachetools"),
            "OCSP and CRL serving (mission-critical; holds the delegated OCSP signer only)",
        ),
        Unit(
            "issuance",
            "issuance.lambda_handler.handler",
            ("issuance", "pki"),
            (
                *_PKI_REQUIREMENTS,
                "aws-lambda-powertools",
                "fastapi",
                "pydantic",
                "mangum",
                "limits",
                "publicsuffixlist",
                "acme",
                "josepy",
            ),
            "the issuance API (Function URL, IAM auth) and the CRL updater",
        ),
        Unit(
            "publishing",
            "publishing.lambda_handler.handler",
            ("publishing", "pki"),
            (*_PKI_REQUIREMENTS, "aws-lambda-powertools"),
            "publishes the CA certificates (DER, PEM bundle, digest manifest)",
        ),
        Unit(
            "ingest",
            "ingest.lambda_handler.handler",
            ("ingest", "pki"),
            (*_PKI_REQUIREMENTS, "aws-lambda-powertools", "pyarrow", "numpy"),
            "RAW logs into the Parquet LAKE, fed by S3 notifications through SQS",
        ),
    )
}


def selected_units(names: Sequence[str] | None) -> list[Unit]:
    """The units asked for, in the order given (all when none); unknown names are an
    error before anything is built."""
    if not names:
        return list(UNITS.values())
    unknown = [name for name in names if name not in UNITS]
    if unknown:
        raise UnknownUnitError(
            f"unknown unit {', '.join(map(repr, unknown))}: choose from {', '.join(UNITS)}"
        )
    return [UNITS[name] for name in dict.fromkeys(names)]
