"""Open a store from a URI: a SQLite path (the default) or ``dynamodb://TABLE``."""

from __future__ import annotations

from pathlib import Path

from pki.store.base import CertificateStore, StoreError


def open_store(uri: str, *, background_checkpoints: bool = False) -> CertificateStore:
    """``sqlite:///abs/path``, a plain path, or ``dynamodb://table-name``.

    ``background_checkpoints``: a SQLite store written on every request keeps WAL
    checkpoints off the request path (``pki.store.checkpoint``); no effect on DynamoDB.

    DynamoDB endpoint, region and credentials come from the standard AWS settings
    (``AWS_ENDPOINT_URL``, ``AWS_REGION``, profiles), like every AWS client here.
    """
    if uri.startswith("dynamodb://"):
        from pki.store.dynamodb import DynamoDbStore  # boto3 only when asked for

        table = uri.removeprefix("dynamodb://").strip("/")
        if not table:
            raise StoreError("dynamodb:// store URI needs a table name: dynamodb://TABLE")
        return DynamoDbStore.from_environment(table)
    from pki.store.sqlite import SqliteStore

    if "://" in uri and not uri.startswith("sqlite://"):
        raise StoreError(f"unsupported store URI {uri!r}: use a path or dynamodb://TABLE")
    return SqliteStore(
        Path(uri.removeprefix("sqlite://")), background_checkpoints=background_checkpoints
    )
