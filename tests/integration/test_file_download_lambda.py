"""Deployed shape of a large download: ``functions/workflows_api`` under moto (AWS mode,
the files bucket in moto S3) answers ``GET /v1/files/{id}/content`` for a file over
``files_inline_bytes`` with a 302 to a presigned GetObject URL of the bucket's key, through
the Lambda proxy translation; a file under it still comes back as its bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from support.lambda_api import ALL_TABLES, Context, body_of, close_apps, load_handler, sample_event
from support.stepfunctions import simulated_aws

TABLE, BUCKET = "orch-workflows", "orch-files"


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    tables = {**ALL_TABLES, "workflows": TABLE}
    with simulated_aws(tmp_path, monkeypatch, tables):
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        monkeypatch.setenv("ORCHESTRA_WORKFLOWS_TABLE", TABLE)
        monkeypatch.setenv("ORCHESTRA_FILES_BUCKET", BUCKET)
        yield monkeypatch
    close_apps()


def call(name: str, path: str | None = None) -> dict[str, Any]:
    event = sample_event("workflows_api", name)
    if path is not None:
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
    response: dict[str, Any] = load_handler("workflows_api").handler(
        event, Context("workflows_api")
    )
    return response


def upload() -> dict[str, Any]:
    response = call("rest_v1_upload_file.json")
    assert response["statusCode"] == 200, body_of(response)
    uploaded: dict[str, Any] = json.loads(body_of(response))
    return uploaded


def content(file_id: str) -> dict[str, Any]:
    return call("http_v2_get_batch.json", path=f"/v1/files/{file_id}/content")


def test_over_the_inline_size_the_function_redirects_to_a_presigned_s3_url(
    aws: pytest.MonkeyPatch,
) -> None:
    # Given a deployed workflows API whose inline limit is below the sample file's size
    aws.setenv("ORCHESTRA_FILES_INLINE_BYTES", "10")
    uploaded = upload()
    assert uploaded["bytes"] > 10
    # When its content is asked for
    response = content(uploaded["id"])
    # Then a 302 to a SigV4 presigned GET of the file's key in the bucket, never cached
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert response["statusCode"] == 302 and body_of(response) == ""
    assert headers["cache-control"] == "no-store"
    location = urlsplit(headers["location"])
    assert location.scheme == "https"
    assert f"{location.netloc}{location.path}" in (
        f"{BUCKET}.s3.amazonaws.com/files/{uploaded['id']}.jsonl",
        f"s3.amazonaws.com/{BUCKET}/files/{uploaded['id']}.jsonl",
    )
    query = parse_qs(location.query)
    assert query["X-Amz-Expires"] == ["300"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert len(json.dumps(response)) < 2_000  # whatever the file's size


def test_under_the_inline_size_the_function_answers_the_bytes(aws: pytest.MonkeyPatch) -> None:
    uploaded = upload()
    response = content(uploaded["id"])
    assert response["statusCode"] == 200
    lines = [json.loads(x) for x in body_of(response).splitlines()]
    assert len(lines) == 1 and lines[0]["method"] == "POST"
