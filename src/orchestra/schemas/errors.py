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


class AnthropicErrorDetail(BaseModel):
    type: str = Field(
        description="invalid_request_error, authentication_error, overloaded_error..."
    )
    message: str = Field(description="What went wrong, for a person; never a provider key")


class AnthropicErrorResponse(BaseModel):
    """``{"type": "error", "error": {"type", "message"}}``: Anthropic's shape, for ``/v1/messages``."""

    type: str = Field(description='Always "error"')
    error: AnthropicErrorDetail


class GoogleErrorDetail(BaseModel):
    code: int = Field(description="The HTTP status")
    message: str = Field(description="What went wrong, for a person; never a provider key")
    status: str = Field(description="INVALID_ARGUMENT, UNAUTHENTICATED, RESOURCE_EXHAUSTED...")
    details: list[dict[str, object]] = Field(
        default_factory=list, description="ErrorInfo (Orchestra's code); BadRequest (the field)"
    )


class GoogleErrorResponse(BaseModel):
    """``{"error": {"code", "message", "status", "details"}}``: Google's shape, for ``/v1beta``."""

    error: GoogleErrorDetail
