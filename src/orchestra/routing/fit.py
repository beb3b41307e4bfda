"""Whether a model can serve a request: its window, output limit and capabilities.

What the request needs is read once per request (:class:`Needs`), then checked against each
model the router walks (and each deployment a group brings in) with a few comparisons.
"""

from __future__ import annotations

from orchestra.catalog.models import EMBEDDINGS, ModelInfo
from orchestra.schemas.chat import ChatRequest

#: output room reserved when the request gives no max_tokens
DEFAULT_OUTPUT_RESERVE = 1024
#: the reject reason of a model whose provider cannot run the request's built-in tools
BUILTIN_UNSUPPORTED = "builtin_tools_unsupported"


class Needs:
    """What one request asks of a model (``builtin``: the providers that run Responses
    built-in tools)."""

    __slots__ = ("builtin", "builtin_needed", "images", "limit", "stream", "tokens", "tools")

    def __init__(
        self, request: ChatRequest, prompt_tokens: int, builtin: frozenset[str] = frozenset()
    ) -> None:
        self.tokens = prompt_tokens
        self.limit = request.output_limit()
        self.tools = bool(request.tools)
        self.images = any(m.has_images() for m in request.messages)
        self.stream = bool(request.stream)
        self.builtin_needed = bool(builtin_tools_of(request))
        self.builtin = builtin

    def unfit(self, model: ModelInfo) -> str | None:
        """Why ``model`` cannot serve the request, or None."""
        capabilities = model.capabilities
        if EMBEDDINGS in capabilities:
            return "embedding_model"
        reserve = self.limit or min(DEFAULT_OUTPUT_RESERVE, model.max_output_tokens)
        if self.tokens + reserve > model.context_window:
            return f"context_window({self.tokens}+{reserve}>{model.context_window})"
        if self.limit is not None and self.limit > model.max_output_tokens:
            return f"max_output_tokens({model.max_output_tokens})"
        if self.tools and "tools" not in capabilities:
            return "no_tool_support"
        if self.images and "vision" not in capabilities:
            return "no_vision_support"
        if self.stream and "streaming" not in capabilities:
            return "no_streaming"
        if self.builtin_needed and model.provider not in self.builtin:
            return BUILTIN_UNSUPPORTED
        return None


def unfit_reason(
    model: ModelInfo,
    request: ChatRequest,
    prompt_tokens: int,
    *,
    builtin: frozenset[str] = frozenset(),
) -> str | None:
    """Why a model cannot serve this request, or None (``builtin``: the providers that
    run Responses built-in tools). Checking many models: make one :class:`Needs`."""
    return Needs(request, prompt_tokens, builtin).unfit(model)


def builtin_tools_of(request: ChatRequest) -> tuple[tuple[int, str], ...]:
    """The request's Responses built-in tools as (index, type)."""
    return request.native.builtin_tools if request.native is not None else ()
