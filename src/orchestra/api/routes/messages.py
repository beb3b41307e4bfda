"""Anthropic Messages: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
