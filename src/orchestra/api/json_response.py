"""``JsonBody``: a JSON answer encoded by pydantic-core (about three times the standard
library's speed on the small bodies every route sends; compact, UTF-8)."""

from __future__ import annotations

from typing import Any

import pydantic_core
from starlette.responses import Response


class JsonBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content)
