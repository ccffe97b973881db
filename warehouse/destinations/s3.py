"""Report files written as objects under an S3 prefix.

```toml
[reports]
destination = "s3://corp-pki-reports/certsight"
```

Endpoint, region and credentials come from the standard AWS settings
(``AWS_ENDPOINT_URL``, ``AWS_REGION``, profiles, the usual chain); an object appears
whole or not at all, as S3 does. Only ``s3:PutObject`` is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator

from pki.store.objects import ObjectStoreError, S3ObjectStore, split_s3_uri
from warehouse.destinations.base import (
    Context,
    DeliveryError,
    DestinationSettings,
    NonEmpty,
    ReportStore,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _s3_uri(value: str) -> str:
    try:
        if not value.startswith("s3://"):
            raise ObjectStoreError(value)
        split_s3_uri(value)
    except ObjectStoreError:
        raise ValueError("name a bucket: s3://bucket/prefix") from None
    return value.rstrip("/")


class S3Settings(DestinationSettings):
    """``[reports] destination`` when it is ``s3://bucket/prefix``; the bucket is checked
    when certsight.toml is read, not at the first report."""

    destination: Annotated[NonEmpty, AfterValidator(_s3_uri)]


class S3Destination(ReportStore[S3Settings]):
    """One ``PutObject`` per file, with its media type."""

    slug = "s3"
    scheme = "s3"
    settings_model = S3Settings

    def __init__(
        self,
        settings: S3Settings,
        context: Context,
        *,
        name: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        super().__init__(settings, context, name=name)
        self.uri = settings.destination
        self.bucket, self.prefix = split_s3_uri(self.uri)
        self._client = client

    @property
    def location(self) -> str:
        return self.uri

    def client(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "s3",
                config=Config(
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"mode": "standard", "total_max_attempts": 3},
                ),
            )
        return self._client

    def write(self, name: str, data: bytes, content_type: str) -> str:
        objects = S3ObjectStore(self.bucket, self.prefix, self.client())
        try:
            return objects.put(name, data, content_type)
        except ObjectStoreError as exc:  # botocore's messages carry no secret
            raise DeliveryError(self.name, str(exc)) from exc
