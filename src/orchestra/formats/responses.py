"""OpenAI Responses, inbound: ``POST /v1/responses`` and ``GET /v1/responses/{id}`` as the
OpenAI SDK, Codex and the Agents SDK send them (errors are OpenAI's shape, as for chat)."""

from __future__ import annotations
