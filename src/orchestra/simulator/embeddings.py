"""``sim-embed``: a deterministic embedding model for a gateway with no keys.

Each text becomes hashed features in :data:`SIZE` dimensions: its words (weight 1) and the
character trigrams of each word (weight 0.5, so ``route`` and ``routing`` share some), each
feature adding +-weight at the positions its BLAKE2 hash picks, one within each of the first
1, 2, 4 ... 256 (:data:`LEVELS`); the sum is L2-normalised.
The same text always gives the same vector (in every process: no ``hash()`` salt), texts
sharing words score a higher cosine than unrelated ones, and ``dimensions`` keeps the first
``dimensions`` values, renormalised.
"""

from __future__ import annotations

import hashlib
import re

from orchestra.errors import ProviderBadRequest
from orchestra.providers.base import CallOptions, Provider
from orchestra.providers.embeddings import Embeddings, Vector, estimated_tokens, l2_normalised

SIZE = 256
WORD_WEIGHT = 1.0
TRIGRAM_WEIGHT = 0.5
_WORDS = re.compile(r"\w+")
#: each feature lands once within each prefix of these lengths, so a shortened vector
#: (``dimensions``) still holds every feature (nested, like Matryoshka embeddings)
LEVELS = tuple(2**i for i in range(SIZE.bit_length()))


def _features(text: str) -> list[tuple[str, float]]:
    words = _WORDS.findall(text.lower())
    found = [(f"w:{word}", WORD_WEIGHT) for word in words]
    for word in words:
        padded = f" {word} "
        found += [(f"t:{padded[i : i + 3]}", TRIGRAM_WEIGHT) for i in range(len(padded) - 2)]
    if not found:  # punctuation or whitespace only: the text itself, so it is not all zeros
        found = [(f"x:{text}", WORD_WEIGHT)]
    return found


def embed_text(text: str, size: int = SIZE) -> Vector:
    """The text's unit vector of ``size`` values (at most :data:`SIZE`): the first ``size``
    of the full vector, renormalised."""
    vector = [0.0] * SIZE
    for feature, weight in _features(text):
        digest = hashlib.blake2b(feature.encode(), digest_size=32).digest()
        for level, span in enumerate(LEVELS):
            chunk = digest[3 * level : 3 * level + 3]
            position = int.from_bytes(chunk[:2], "little") % span
            vector[position] += weight if chunk[2] & 1 else -weight
    return l2_normalised(vector[:size])


class SimulatorEmbeddings:
    """The simulator provider's embedding client (any model name: ``sim-embed``'s vectors)."""

    def __init__(self, provider: Provider) -> None:
        self.name = provider.name

    async def embed(
        self, texts: list[str], model: str, dimensions: int | None, options: CallOptions
    ) -> Embeddings:
        size = dimensions or SIZE
        if size > SIZE:
            raise ProviderBadRequest(
                f"{model} makes vectors of at most {SIZE} dimensions, not {size}",
                provider=self.name,
                model=model,
                param="dimensions",
            )
        return Embeddings([embed_text(text, size) for text in texts], estimated_tokens(texts))
