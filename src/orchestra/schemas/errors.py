"""OpenAI's error body, as every error answer carries it (documented in the OpenAPI file)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, for a person; never a provider key")
    type: str = Field(description="invalid_request_error, authentication_error, api_error...")
    param: str | None = Field(description="The offending parameter, when there is one")
    code: str | None = Field(description="A stable machine-readable code, e.g. invalid_value")


class ErrorResponse(BaseModel):
    """``{"error": {"message", "type", "param", "code"}}``, as OpenAI answers errors."""

    error: ErrorDetail
