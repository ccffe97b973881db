"""Fixtures that run every store test against SQLite and against DynamoDB.

DynamoDB is moto's HTTP server on loopback rather than an in-process mock, so the
real botocore stack (signing, retries, error parsing, timeouts) is exercised.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from pki.store.base import CertificateStore
from pki.store.dynamodb import DynamoDbStore
from pki.store.sqlite import SqliteStore


@pytest.fixture
def table_name(aws_env: str) -> Iterator[str]:
    """A table name no other test uses; the table, if created, is dropped afterwards."""
    table = f"certsight-test-{uuid.uuid4().hex[:12]}"
    yield table
    client = boto3.session.Session().client(
        "dynamodb", config=Config(retries={"total_max_attempts": 1})
    )
    try:
        # Keeps the session-wide moto server small.
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=table)
    finally:
        client.close()


@pytest.fixture
def dynamo_store(table_name: str) -> Iterator[DynamoDbStore]:
    store = DynamoDbStore.from_environment(table_name)
    store.ensure_table(wait_delay_s=1)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CertificateStore]:
    if request.param == "sqlite":
        sqlite = SqliteStore(tmp_path / "s.sqlite")
        try:
            yield sqlite
        finally:
            sqlite.close()
    else:
        dynamo: DynamoDbStore = request.getfixturevalue("dynamo_store")
        yield dynamo
