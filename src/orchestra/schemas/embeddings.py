"""``POST /v1/embeddings``: OpenAI's request and response, plus Orchestra's ``fallbacks``.

``input`` is one string or a list of strings. OpenAI also accepts token arrays (a list of
integers, or a list of them); those are refused with a 400 naming ``input``, since each
vendor tokenises differently and a token array means nothing to another model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: OpenAI's limit on the items of one request
MAX_INPUTS = 2048

EncodingFormat = Literal["float", "base64"]


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    model: str = Field(min_length=1, max_length=256)
    input: str | list[str] | list[int] | list[list[int]]
    dimensions: int | None = Field(default=None, gt=0)
    encoding_format: EncodingFormat = "float"
    user: str | None = None
    #: models the caller accepts as equivalent, tried in order when ``model`` fails
    #: (vectors of different models are not comparable: nothing falls back without this)
    fallbacks: list[str] | None = Field(default=None, max_length=8)

    @field_validator("input")
    @classmethod
    def _texts_only(
        cls, value: str | list[str] | list[int] | list[list[int]]
    ) -> str | list[str] | list[int] | list[list[int]]:
        if isinstance(value, str):
            if not value:
                raise ValueError("input must not be an empty string")
            return value
        if not value:
            raise ValueError("input must not be an empty list")
        if not all(isinstance(item, str) for item in value):
            raise ValueError(
                "token arrays are not supported: send the text (a string or a list of strings)"
            )
        if len(value) > MAX_INPUTS:
            raise ValueError(f"at most {MAX_INPUTS} inputs per request, got {len(value)}")
        for index, item in enumerate(value):
            if not item:
                raise ValueError(f"input[{index}] must not be an empty string")
        return value

    def texts(self) -> list[str]:
        """The inputs, always as a list (validated: strings, none empty)."""
        return [self.input] if isinstance(self.input, str) else [str(t) for t in self.input]


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    #: floats, or little-endian float32 bytes base64-encoded (``encoding_format=base64``)
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int = 0
    total_tokens: int = 0


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage
