"""OpenAI's Files API: ``POST /v1/files`` (multipart: ``file``, ``purpose``),
``GET /v1/files``, ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``,
``DELETE /v1/files/{id}``. Only batch input files are uploaded (purpose ``batch``, checked
line by line: a 400 names the first bad line); batches write their output and error files
(purpose ``batch_output``), served here the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from orchestra.api.deps import Authorized, NotServed, Served, only_query, page_size
from orchestra.errors import InvalidRequest, PayloadTooLarge

if TYPE_CHECKING:
    from orchestra.batch.service import FileService

router = APIRouter()
#: what a multipart envelope adds around the file (boundaries, headers, ``purpose``)
ENVELOPE_BYTES = 64 * 1024
_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "purpose"],
                    # at most 8 form fields are read (more is a 400 naming ``file``)
                    "additionalProperties": False,
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "purpose": {"type": "string", "enum": ["batch"]},
                    },
                }
            }
        },
    }
}

_CONTENT: dict[int | str, dict[str, object]] = {
    200: {"content": {"application/jsonl": {"schema": {"type": "string", "format": "binary"}}}},
    302: {
        "description": "A file larger than files_inline_bytes, deployed: a presigned URL "
        "(valid 5 minutes) to GET it from",
        "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
    },
}


def files_of(services: Served) -> FileService:
    found: FileService | None = getattr(services, "files", None)
    if found is None:
        raise NotServed("files are not served by this function")
    return found


async def _upload(request: Request, limit: int) -> tuple[bytes, str, str]:
    """The file's bytes, its name and the purpose, from the multipart form."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + ENVELOPE_BYTES:
        raise PayloadTooLarge(f"A batch file is at most {limit} bytes", param="file")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidRequest("Upload a file as multipart/form-data", param="file")
    try:
        form = await request.form(max_files=1, max_fields=8)
    except MultiPartException as exc:
        raise InvalidRequest(f"Malformed multipart body: {exc.message}", param="file") from exc
    except HTTPException as exc:  # Starlette's wrapping of the same, inside an app
        raise InvalidRequest(f"Malformed multipart body: {exc.detail}", param="file") from exc
    upload, purpose = form.get("file"), form.get("purpose")
    if not isinstance(upload, UploadFile):
        raise InvalidRequest("Missing required parameter: 'file'", param="file")
    if not isinstance(purpose, str) or not purpose:
        raise InvalidRequest("Missing required parameter: 'purpose'", param="purpose")
    data = await upload.read(limit + 1)
    await form.close()
    if len(data) > limit:
        raise PayloadTooLarge(f"A batch file is at most {limit} bytes", param="file")
    return data, upload.filename or "upload.jsonl", purpose


@router.post("/v1/files", openapi_extra=_UPLOAD)
async def create_file(request: Request, services: Authorized) -> Response:
    files = files_of(services)
    data, filename, purpose = await _upload(request, files.max_bytes)
    created = await files.create(data, filename, purpose)
    return Response(created.model_dump_json(), media_type="application/json")


@router.get("/v1/files", dependencies=[Depends(only_query("after", "limit", "purpose", "order"))])
async def list_files(
    services: Authorized,
    limit: Annotated[int, page_size(10_000, 10_000)],
    after: str | None = None,
    purpose: str | None = None,
    # newest first is the order served: ``asc`` is refused (naming ``order``), not ignored
    order: Annotated[str, Query(json_schema_extra={"enum": ["desc"]})] = "desc",
) -> Response:
    if order != "desc":
        raise InvalidRequest(
            f"order {order!r} is not served: files are listed newest first ('desc')",
            param="order",
            code="invalid_value",
        )
    found = await files_of(services).list(after, limit, purpose)
    return Response(found.model_dump_json(), media_type="application/json")


@router.get("/v1/files/{file_id}")
async def retrieve_file(file_id: str, services: Authorized) -> Response:
    found = await files_of(services).retrieve(file_id)
    return Response(found.model_dump_json(), media_type="application/json")


@router.get("/v1/files/{file_id}/content", responses=_CONTENT)
async def file_content(file_id: str, services: Authorized) -> Response:
    """The bytes, or a 302 to a short-lived blob store URL for a file too large to answer
    through Lambda (clients follow it; httpx, so the openai SDK, drops our Authorization
    header on the way, the URL being another origin)."""
    found = await files_of(services).download(file_id)
    if isinstance(found, str):
        return Response(status_code=302, headers={"Location": found, "Cache-Control": "no-store"})
    return Response(found, media_type="application/jsonl")


@router.delete("/v1/files/{file_id}")
async def delete_file(file_id: str, services: Authorized) -> Response:
    deleted = await files_of(services).delete(file_id)
    return Response(deleted.model_dump_json(), media_type="application/json")
