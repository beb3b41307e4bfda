"""Whole files by key (``BlobStore``): batch input, output and error files, chunk manifests.

Deployed, the files bucket (:class:`S3BlobStore`); locally and in tests, memory
(:class:`MemoryBlobStore`). Both answer the same contract (tests/unit/storage/
test_blobs_contract.py): a missing object is ``KeyError`` on ``get`` and ``None`` on
``size``; a range past the end is cut at the end, as S3 does.

``concat`` joins a batch's many small part files into one output file without holding the
whole file: S3 multipart upload with parts buffered to ``PART_BYTES`` (each source read in
ranged slices of at most that size), so memory stays under two parts whatever the total.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestra.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: S3 refuses multipart parts under 5 MiB (except the last): smaller totals are one PutObject
MULTIPART_MIN_BYTES = 5 * 1024 * 1024
#: bytes buffered per uploaded part (and per ranged read of a source part)
PART_BYTES = 8 * 1024 * 1024
#: DeleteObjects takes at most this many keys per request
DELETE_BATCH = 1000
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class MemoryBlobStore:
    """``BlobStore`` over a dict (``orchestra serve`` without AWS, and the tests)."""

    def __init__(self) -> None:
        self.calls = 0
        self._objects: dict[str, tuple[bytes, str]] = {}

    async def _tick(self) -> None:
        self.calls += 1
        await asyncio.sleep(0)

    async def put(self, key: str, data: bytes, content_type: str = "application/jsonl") -> None:
        await self._tick()
        self._objects[key] = (bytes(data), content_type)

    async def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        await self._tick()
        return self._objects[key][0][start:end]

    async def size(self, key: str) -> int | None:
        await self._tick()
        found = self._objects.get(key)
        return None if found is None else len(found[0])

    async def concat(self, key: str, parts: Sequence[str], content_type: str) -> int:
        await self._tick()
        data = b"".join(self._objects[part][0] for part in parts if part in self._objects)
        self._objects[key] = (data, content_type)
        return len(data)

    async def delete(self, keys: Sequence[str]) -> None:
        await self._tick()
        for key in keys:
            self._objects.pop(key, None)

    async def link(self, key: str, expires_s: int) -> str | None:
        return None  # served from memory by the process itself

    def content_type(self, key: str) -> str:
        """The stored content type (tests)."""
        return self._objects[key][1]


def _code(exc: Exception) -> str | None:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "Unknown"))
    return None


def _map_error(exc: Exception, operation: str, bucket: str) -> Exception:
    from botocore.exceptions import BotoCoreError

    code = _code(exc)
    if code is not None:
        return StorageError(f"S3 {operation} on {bucket} failed: {code}")
    if isinstance(exc, BotoCoreError):
        return StorageError(f"S3 {operation} on {bucket} failed: {type(exc).__name__}")
    return exc


class S3BlobStore:
    """``BlobStore`` over one S3 bucket. boto3 is imported when the first call needs a
    client (cold start); blocking calls run in a worker thread; failures are
    ``StorageError`` naming the operation and S3's error code."""

    def __init__(self, bucket: str, client: S3Client | None = None) -> None:
        self.bucket = bucket
        #: S3 round trips made (tests and benches count them)
        self.calls = 0
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # presigned links: SigV4 (all S3 takes in newer regions), on the regional
            # virtual host (the global one answers a new bucket with a redirect to it)
            config = Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
            self._client = boto3.client("s3", config=config)
        return self._client

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One S3 call; a missing object is ``KeyError`` (callers decide what it means)."""
        method = getattr(self.client, operation)
        self.calls += 1
        try:
            response: dict[str, Any] = await asyncio.to_thread(method, Bucket=self.bucket, **kwargs)
        except Exception as exc:
            if _code(exc) in _MISSING:
                raise KeyError(kwargs.get("Key", "")) from exc
            mapped = _map_error(exc, operation, self.bucket)
            if mapped is exc:
                raise
            raise mapped from exc
        return response

    async def put(self, key: str, data: bytes, content_type: str = "application/jsonl") -> None:
        await self._call("put_object", Key=key, Body=data, ContentType=content_type)

    async def get(self, key: str, start: int | None = None, end: int | None = None) -> bytes:
        if start is None and end is None:
            response = await self._call("get_object", Key=key)
            return await asyncio.to_thread(response["Body"].read)
        first = start or 0
        if end is not None and end <= first:
            return b""  # S3 ignores an empty range and would send the whole object
        last = "" if end is None else str(end - 1)
        try:
            response = await self._call("get_object", Key=key, Range=f"bytes={first}-{last}")
        except StorageError as exc:
            if "InvalidRange" in str(exc):  # starts at or past the end: nothing there
                return b""
            raise
        return await asyncio.to_thread(response["Body"].read)

    async def size(self, key: str) -> int | None:
        try:
            response = await self._call("head_object", Key=key)
        except KeyError:
            return None
        return int(response["ContentLength"])

    async def concat(self, key: str, parts: Sequence[str], content_type: str) -> int:
        sizes = await asyncio.gather(*(self.size(part) for part in parts))
        present = [(part, size) for part, size in zip(parts, sizes, strict=True) if size]
        total = sum(size for _, size in present)
        if total < MULTIPART_MIN_BYTES:
            chunks = await asyncio.gather(*(self.get(part) for part, _ in present))
            data = b"".join(chunks)
            await self.put(key, data, content_type)
            return len(data)
        return await _Multipart(self, key, content_type).write(present)

    async def link(self, key: str, expires_s: int) -> str | None:
        """A presigned GetObject URL (signed locally, no S3 round trip), valid for
        ``expires_s`` seconds, carrying the object's stored content type. Signed with this
        function's role: S3 checks the role may read the key when the URL is used."""
        try:
            url = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=expires_s,
                HttpMethod="GET",
            )
        except Exception as exc:
            mapped = _map_error(exc, "generate_presigned_url", self.bucket)
            if mapped is exc:
                raise
            raise mapped from exc
        return str(url)

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` (absent ones are no error), every batch tried before raising.

        In quiet mode S3 answers 200 and lists only the keys it refused (``Errors``, e.g.
        AccessDenied): those are a ``StorageError`` naming how many and the first code,
        never the keys (an object's name can carry a caller's data).
        """
        unique = list(dict.fromkeys(keys))
        refused: list[str] = []
        for i in range(0, len(unique), DELETE_BATCH):
            batch = [{"Key": key} for key in unique[i : i + DELETE_BATCH]]
            response = await self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})
            refused += [str(e.get("Code", "Unknown")) for e in response.get("Errors") or []]
        if refused:
            raise StorageError(
                f"S3 delete_objects on {self.bucket} refused {len(refused)} of "
                f"{len(unique)} keys: {refused[0]}"
            )


class _Multipart:
    """One multipart upload: sources read in ranged slices, parts of ``PART_BYTES``
    uploaded as the buffer fills, aborted on any failure (no orphaned parts to pay for;
    the bucket's lifecycle rule aborts what a crash leaves)."""

    def __init__(self, store: S3BlobStore, key: str, content_type: str) -> None:
        self.store, self.key, self.content_type = store, key, content_type
        self.upload_id = ""
        self.etags: list[dict[str, Any]] = []
        self.buffer = bytearray()
        self.written = 0

    async def write(self, sources: Sequence[tuple[str, int]]) -> int:
        created = await self.store._call(
            "create_multipart_upload", Key=self.key, ContentType=self.content_type
        )
        self.upload_id = str(created["UploadId"])
        try:
            for source, size in sources:
                await self._copy(source, size)
            await self._flush()
            await self.store._call(
                "complete_multipart_upload",
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self.etags},
            )
        except BaseException:
            await self._abort()
            raise
        return self.written

    async def _copy(self, source: str, size: int) -> None:
        for offset in range(0, size, PART_BYTES):
            self.buffer += await self.store.get(source, offset, min(offset + PART_BYTES, size))
            if len(self.buffer) >= PART_BYTES:
                await self._flush()

    async def _flush(self) -> None:
        if not self.buffer:
            return
        number = len(self.etags) + 1
        response = await self.store._call(
            "upload_part",
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=bytes(self.buffer),
        )
        self.etags.append({"PartNumber": number, "ETag": response["ETag"]})
        self.written += len(self.buffer)
        self.buffer = bytearray()

    async def _abort(self) -> None:
        try:
            await self.store._call("abort_multipart_upload", Key=self.key, UploadId=self.upload_id)
        except (StorageError, KeyError):
            return  # the lifecycle rule cleans up what this cannot
