"""Download links: S3 hands out a presigned GetObject URL (so a file too large for a
Lambda response goes straight from the bucket); memory has none (it serves the bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from moto import mock_aws

from orchestra.errors import StorageError
from orchestra.storage.blobs import MemoryBlobStore, S3BlobStore

BUCKET = "link-files"
KEY = "batches/batch_1/output.jsonl"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        config = {"LocationConstraint": "eu-west-1"}
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration=config)  # type: ignore[typeddict-item]
        client.put_object(Bucket=BUCKET, Key=KEY, Body=b'{"id": 1}\n')
        yield


def parts(url: str) -> tuple[str, str, dict[str, str]]:
    split = urlsplit(url)
    return split.netloc, split.path, {k: v[0] for k, v in parse_qs(split.query).items()}


async def test_memory_has_no_link() -> None:
    store = MemoryBlobStore()
    await store.put(KEY, b"x")
    assert await store.link(KEY, 300) is None


async def test_s3_link_is_a_sigv4_presigned_get_of_the_key_in_the_buckets_region(aws: None) -> None:
    # Given the store as deployed (its own client, the function's region)
    store = S3BlobStore(BUCKET)
    # When it hands out a link
    url = await store.link(KEY, 300)
    # Then the URL names the bucket and key, is SigV4 for the region, expires as asked,
    # and was signed locally (no S3 round trip)
    assert url is not None
    host, path, query = parts(url)
    assert f"{host}{path}" in (
        f"{BUCKET}.s3.eu-west-1.amazonaws.com/{KEY}",
        f"s3.eu-west-1.amazonaws.com/{BUCKET}/{KEY}",
    )
    assert urlsplit(url).scheme == "https"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "300"
    assert "/eu-west-1/s3/aws4_request" in query["X-Amz-Credential"]
    assert query["X-Amz-SignedHeaders"] == "host" and query["X-Amz-Signature"]
    assert store.calls == 0


async def test_s3_link_expiry_is_the_one_asked_for(aws: None) -> None:
    url = await S3BlobStore(BUCKET).link(KEY, 42)
    assert url is not None and parts(url)[2]["X-Amz-Expires"] == "42"


async def test_s3_link_without_credentials_is_a_storage_error(aws: None) -> None:
    from botocore.exceptions import NoCredentialsError

    class Unsigned:
        def generate_presigned_url(self, *args: Any, **kwargs: Any) -> str:
            raise NoCredentialsError()

    store = S3BlobStore(BUCKET, Unsigned())  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="generate_presigned_url on link-files"):
        await store.link(KEY, 300)
