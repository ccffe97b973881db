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

from warehouse.destinations.base import (
    Context,
    DeliveryError,
    DestinationSettings,
    NonEmpty,
    ReportStore,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> ``(bucket, prefix)``, the prefix without slashes around."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def _s3_uri(value: str) -> str:
    if not value.startswith("s3://") or not split_uri(value)[0]:
        raise ValueError("name a bucket: s3://bucket/prefix")
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
        self.bucket, self.prefix = split_uri(self.uri)
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
        from botocore.exceptions import BotoCoreError, ClientError

        key = f"{self.prefix}/{name}" if self.prefix else name
        try:
            self.client().put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )
        except (BotoCoreError, ClientError) as exc:  # their messages carry no secret
            raise DeliveryError(self.name, f"cannot write s3://{self.bucket}/{key}: {exc}") from exc
        return f"s3://{self.bucket}/{key}"
