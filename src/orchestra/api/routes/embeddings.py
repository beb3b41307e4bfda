"""``POST /v1/embeddings`` (OpenAI's shape)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
