"""One contract for the blob stores: memory and S3 (under moto's ``mock_aws``).

A batch reads its input in ranged slices and joins its part files with ``concat``; these
behaviours must be the same on ``orchestra serve`` and deployed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orchestra.errors import StorageError
from orchestra.storage import blobs
from orchestra.storage.blobs import MemoryBlobStore, S3BlobStore
from orchestra.storage.protocols import BlobStore

BUCKET = "contract-files"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def s3_bucket() -> Iterator[Any]:
    """One moto S3 and bucket for the module (starting moto is most of a test's time)."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def s3(s3_bucket: Any) -> Iterator[Any]:
    """The bucket, emptied after each test (objects and unfinished multipart uploads)."""
    yield s3_bucket
    for upload in s3_bucket.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        s3_bucket.abort_multipart_upload(
            Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
        )
    for page in s3_bucket.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            s3_bucket.delete_object(Bucket=BUCKET, Key=item["Key"])


@pytest.fixture(params=["memory", "s3"])
def store(request: pytest.FixtureRequest) -> BlobStore:
    if request.param == "memory":
        return MemoryBlobStore()
    return S3BlobStore(BUCKET, request.getfixturevalue("s3"))


async def test_put_then_get_and_size(store: BlobStore) -> None:
    await store.put("files/a.jsonl", b'{"a": 1}\n')
    assert await store.get("files/a.jsonl") == b'{"a": 1}\n'
    assert await store.size("files/a.jsonl") == 9
    await store.put("files/a.jsonl", b"replaced")
    assert await store.get("files/a.jsonl") == b"replaced"


async def test_a_missing_object_is_key_error_on_get_and_none_on_size(store: BlobStore) -> None:
    with pytest.raises(KeyError):
        await store.get("files/missing.jsonl")
    with pytest.raises(KeyError):
        await store.get("files/missing.jsonl", 0, 10)
    assert await store.size("files/missing.jsonl") is None


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 5, b"01234"),
        (3, 7, b"3456"),
        (5, None, b"56789"),
        (None, 4, b"0123"),
        (8, 100, b"89"),  # past the end: cut at the end
        (4, 4, b""),  # an empty range
        (10, 20, b""),  # starting at the end
    ],
)
async def test_ranged_reads(
    store: BlobStore, start: int | None, end: int | None, expected: bytes
) -> None:
    await store.put("batches/b/manifest.jsonl", b"0123456789")
    assert await store.get("batches/b/manifest.jsonl", start, end) == expected


async def test_concat_joins_parts_in_order_and_skips_missing(store: BlobStore) -> None:
    parts = [f"batches/b/parts/{i:06d}.out.jsonl" for i in range(30)]
    for i, key in enumerate(parts):
        if i % 7 != 3:  # some chunks wrote no part
            await store.put(key, f'{{"line": {i}}}\n'.encode())
    size = await store.concat("batches/b/output.jsonl", parts, "application/jsonl")
    data = await store.get("batches/b/output.jsonl")
    assert size == len(data)
    lines = data.decode().splitlines()
    assert lines == [f'{{"line": {i}}}' for i in range(30) if i % 7 != 3]


async def test_concat_of_nothing_is_an_empty_object(store: BlobStore) -> None:
    assert (
        await store.concat("batches/b/errors.jsonl", ["batches/b/none"], "application/jsonl") == 0
    )
    assert await store.get("batches/b/errors.jsonl") == b""


async def test_concat_over_the_multipart_threshold_keeps_every_byte(store: BlobStore) -> None:
    # Given 13 parts of 1 MB less a little, and one big part bigger than a buffered part
    parts = []
    for i in range(13):
        key = f"batches/b/parts/{i:06d}.out.jsonl"
        await store.put(key, bytes([65 + i]) * (MB - 17))
        parts.append(key)
    await store.put("batches/b/parts/big", b"z" * (9 * MB + 5))
    parts.append("batches/b/parts/big")
    # When they are joined (about 22 MB: multipart on S3)
    size = await store.concat("batches/b/output.jsonl", parts, "application/jsonl")
    # Then the object is every part in order
    assert size == 13 * (MB - 17) + 9 * MB + 5
    assert await store.size("batches/b/output.jsonl") == size
    assert await store.get("batches/b/output.jsonl", 0, 3) == b"AAA"
    assert await store.get("batches/b/output.jsonl", 12 * (MB - 17), 12 * (MB - 17) + 2) == b"MM"
    assert await store.get("batches/b/output.jsonl", size - 2) == b"zz"


async def test_delete_removes_and_ignores_absent(store: BlobStore) -> None:
    await store.put("files/a", b"a")
    await store.put("files/b", b"b")
    await store.delete(["files/a", "files/never"])
    assert await store.size("files/a") is None
    assert await store.get("files/b") == b"b"
    await store.delete([])


async def test_s3_multipart_uses_parts_of_the_buffer_size(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the store counting its uploaded parts
    store = S3BlobStore(BUCKET, s3)
    sizes: list[int] = []
    upload_part = s3.upload_part

    def counting(**kwargs: Any) -> Any:
        sizes.append(len(kwargs["Body"]))
        return upload_part(**kwargs)

    monkeypatch.setattr(s3, "upload_part", counting)
    for i in range(3):
        await store.put(f"p{i}", b"x" * (7 * MB))
    # When 21 MB are joined
    await store.concat("out", ["p0", "p1", "p2"], "application/jsonl")
    # Then every part but the last is at least 8 MB and none is over two buffers
    assert sum(sizes) == 21 * MB
    assert all(blobs.PART_BYTES <= size < 2 * blobs.PART_BYTES for size in sizes[:-1])
    assert s3.head_object(Bucket=BUCKET, Key="out")["ContentType"] == "application/jsonl"


async def test_s3_small_concat_is_one_put(s3: Any) -> None:
    store = S3BlobStore(BUCKET, s3)
    await store.put("p0", b"a")
    await store.put("p1", b"b")
    before = store.calls
    await store.concat("out", ["p0", "p1"], "text/plain")
    # two HeadObject, two GetObject, one PutObject
    assert store.calls - before == 5
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


async def test_s3_failed_multipart_is_aborted(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    store = S3BlobStore(BUCKET, s3)
    await store.put("p0", b"x" * (6 * MB))

    def refuse(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "SlowDown"}}, "UploadPart")

    monkeypatch.setattr(s3, "upload_part", refuse)
    with pytest.raises(StorageError, match="SlowDown"):
        await store.concat("out", ["p0"], "application/jsonl")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


async def test_s3_failures_are_storage_errors(s3: Any) -> None:
    store = S3BlobStore("no-such-bucket", s3)
    with pytest.raises(StorageError, match="NoSuchBucket"):
        await store.put("files/a", b"a")


async def test_s3_delete_refused_per_key_is_a_storage_error_without_the_key(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given S3 deletes what it may and, quiet, lists the key it refused (a 200 answer)
    store = S3BlobStore(BUCKET, s3)
    await store.put("files/secret-name.jsonl", b"a")
    await store.put("files/b.jsonl", b"b")
    real = s3.delete_objects

    def partly(**kwargs: Any) -> Any:
        response = real(**kwargs)
        response["Errors"] = [
            {"Key": "files/secret-name.jsonl", "Code": "AccessDenied", "Message": "Access Denied"}
        ]
        return response

    monkeypatch.setattr(s3, "delete_objects", partly)
    # When both are deleted, Then the refusal is raised with the count and the code
    with pytest.raises(StorageError, match="refused 1 of 2 keys: AccessDenied") as caught:
        await store.delete(["files/secret-name.jsonl", "files/b.jsonl"])
    assert "secret-name" not in str(caught.value)


async def test_s3_delete_tries_every_batch_before_raising(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobs, "DELETE_BATCH", 2)
    store = S3BlobStore(BUCKET, s3)
    sent: list[int] = []

    def refuse_all(**kwargs: Any) -> Any:
        objects = kwargs["Delete"]["Objects"]
        sent.append(len(objects))
        return {"Errors": [{"Key": o["Key"], "Code": "InternalError"} for o in objects]}

    monkeypatch.setattr(s3, "delete_objects", refuse_all)
    with pytest.raises(StorageError, match="refused 5 of 5 keys: InternalError"):
        await store.delete([f"k{i}" for i in range(5)])
    assert sent == [2, 2, 1]
