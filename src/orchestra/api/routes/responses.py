"""OpenAI Responses: ``POST /v1/responses``, ``GET /v1/responses/{id}``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
