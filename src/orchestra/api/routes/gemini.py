"""Gemini: ``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
