"""Where workflows keep their records and files (docs/workflows.md).

Chosen at first use and kept on the core's :class:`~orchestra.compose.core.Stores`, so the
chain and batch use cases of one process (``orchestra serve``, the tests) share one record
store and one blob store: what the API writes, the local runner's steps read. Deployed,
the workflows table and the files bucket; locally (or without them), memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestra.compose.core import Core
    from orchestra.storage.protocols import BlobStore, RecordBackend


def workflow_records(core: Core) -> RecordBackend:
    stores, settings = core.stores, core.settings
    if stores.records is None:
        if settings.mode == "aws" and settings.workflows_table:
            from orchestra.storage.workflows import DynamoDBRecordBackend

            stores.records = DynamoDBRecordBackend(settings.workflows_table)
        else:
            from orchestra.storage.memory import MemoryRecordBackend

            stores.records = MemoryRecordBackend()
    return stores.records


def blob_store(core: Core) -> BlobStore:
    stores, settings = core.stores, core.settings
    if stores.blobs is None:
        if settings.mode == "aws" and settings.files_bucket:
            from orchestra.storage.blobs import S3BlobStore

            stores.blobs = S3BlobStore(settings.files_bucket)
        else:
            from orchestra.storage.blobs import MemoryBlobStore

            stores.blobs = MemoryBlobStore()
    return stores.blobs
