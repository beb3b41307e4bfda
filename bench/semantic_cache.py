"""The semantic cache on the paraphrase set: hit rate and false-hit rate, by threshold.

``tests/data/paraphrases.jsonl`` holds pairs of questions: ``same`` (rewordings: the cached
answer is right) and not (they look alike but ask something else: Austria/Australia, 2+3 vs
2+4, a negation, a unit, an identifier...). For each pair the first question is remembered
and the second probed through the real :class:`SemanticIndex` over a
:class:`MemoryVectorStore` (each pair in its own scope):

- hit rate: the share of ``same`` pairs served from cache (cosine >= threshold, and the
  entity guard agrees when it is on);
- false-hit rate: the share of the other pairs served from cache (a wrong answer).

Offline (the default) the embedder is the simulator's ``sim-embed``: a *lexical* hashed
embedding (words and character trigrams), not a language model: it scores shared wording,
not meaning, so its hit rate says little about a real model's. With ``--base-url URL --key
K --model M`` the same set is embedded by a real model through an OpenAI-compatible
``/v1/embeddings`` (an Orchestra gateway, or any other).

    python bench/semantic_cache.py
    python bench/semantic_cache.py --base-url https://gw.example.com --key sk-... \\
        --model openai/text-embedding-3-small
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from orchestra.cache.records import DEFAULT_THRESHOLD  # noqa: E402
from orchestra.cache.semantic import SemanticIndex, subject_change  # noqa: E402
from orchestra.cache.vectors import MemoryVectorStore  # noqa: E402

PAIRS = ROOT / "tests" / "data" / "paraphrases.jsonl"
THRESHOLDS = (0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99)
#: a whole set's texts to their vectors, in order
EmbedMany = Callable[[list[str]], Awaitable[list[list[float]]]]


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    kind: str


@dataclass(frozen=True)
class Rates:
    threshold: float
    guard: bool
    hits: int
    same: int
    false_hits: int
    differ: int

    @property
    def hit_rate(self) -> float:
        return self.hits / self.same if self.same else 0.0

    @property
    def false_hit_rate(self) -> float:
        return self.false_hits / self.differ if self.differ else 0.0


def load_pairs(path: Path = PAIRS) -> list[Pair]:
    return [Pair(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


async def sim_embed_many(texts: list[str]) -> list[list[float]]:
    """``sim-embed``'s vectors (the simulator's lexical embedding), no network."""
    from orchestra.simulator.embeddings import embed_text

    return [embed_text(text) for text in texts]


def gateway_embed_many(base_url: str, key: str, model: str) -> EmbedMany:
    """A real model through an OpenAI-compatible ``POST /v1/embeddings``."""

    async def embed(texts: list[str]) -> list[list[float]]:
        import httpx

        vectors: list[list[float]] = []
        async with httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=60.0) as client:
            for start in range(0, len(texts), 64):
                response = await client.post(
                    "/v1/embeddings",
                    headers={"authorization": f"Bearer {key}"},
                    json={"model": model, "input": texts[start : start + 64]},
                )
                response.raise_for_status()
                data = sorted(response.json()["data"], key=lambda item: item["index"])
                vectors += [item["embedding"] for item in data]
        return vectors

    return embed


async def similarities(pairs: Sequence[Pair], embed_many: EmbedMany) -> list[float]:
    """Each pair's cosine, as the semantic index finds it (b probed after a remembered)."""
    texts = [text for pair in pairs for text in (pair.a, pair.b)]
    table = dict(zip(texts, await embed_many(texts), strict=True))

    async def embed(text: str) -> list[float]:
        return table[text]

    index = SemanticIndex(MemoryVectorStore(), embed)
    found = []
    for n, pair in enumerate(pairs):
        scope = f"pair-{n}"
        await index.remember(scope, "a", await embed(pair.a), 2**31)
        probe = await index.probe(scope, pair.b, threshold=-1.0)
        found.append(probe.matches[0].similarity if probe.matches else -1.0)
    return found


def rates(pairs: Sequence[Pair], cosines: Sequence[float], threshold: float, guard: bool) -> Rates:
    served = [
        cosine >= threshold and (not guard or subject_change(pair.b, pair.a) is None)
        for pair, cosine in zip(pairs, cosines, strict=True)
    ]
    return Rates(
        threshold,
        guard,
        hits=sum(s for s, p in zip(served, pairs, strict=True) if p.same),
        same=sum(p.same for p in pairs),
        false_hits=sum(s for s, p in zip(served, pairs, strict=True) if not p.same),
        differ=sum(not p.same for p in pairs),
    )


def table(pairs: Sequence[Pair], cosines: Sequence[float]) -> str:
    lines = [
        "threshold | hit rate (no guard) | false hits (no guard) | hit rate (guard) | false hits (guard)",
        "--------- | ------------------- | --------------------- | ---------------- | ------------------",
    ]
    for threshold in THRESHOLDS:
        bare, guarded = (rates(pairs, cosines, threshold, g) for g in (False, True))
        mark = " (default)" if threshold == DEFAULT_THRESHOLD else ""
        lines.append(
            f"{threshold:.2f}{mark} | {_cell(bare.hits, bare.same)} | "
            f"{_cell(bare.false_hits, bare.differ)} | {_cell(guarded.hits, guarded.same)} | "
            f"{_cell(guarded.false_hits, guarded.differ)}"
        )
    return "\n".join(lines)


def _cell(count: int, total: int) -> str:
    return f"{count}/{total} ({count / total:.0%})"


def guard_alone(pairs: Sequence[Pair]) -> str:
    passed_same = sum(subject_change(p.b, p.a) is None for p in pairs if p.same)
    passed_differ = sum(subject_change(p.b, p.a) is None for p in pairs if not p.same)
    same, differ = sum(p.same for p in pairs), sum(not p.same for p in pairs)
    return (
        f"entity guard alone (any threshold): lets through {_cell(passed_same, same)} of the "
        f"rewordings and {_cell(passed_differ, differ)} of the look-alikes"
    )


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="an OpenAI-compatible gateway (else sim-embed)")
    parser.add_argument("--key", default="", help="its API key")
    parser.add_argument("--model", default="auto", help="the embedding model")
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    args = parser.parse_args(argv)
    pairs = load_pairs(args.pairs)
    if args.base_url:
        embed_many, name = gateway_embed_many(args.base_url, args.key, args.model), args.model
    else:
        embed_many, name = sim_embed_many, "sim-embed (lexical hashed embedding, offline)"
    cosines = await similarities(pairs, embed_many)
    print(
        f"embedder: {name}; {sum(p.same for p in pairs)} rewordings, "
        f"{sum(not p.same for p in pairs)} look-alikes ({args.pairs.name})\n"
    )
    print(table(pairs, cosines))
    print("\n" + guard_alone(pairs))


if __name__ == "__main__":
    asyncio.run(main())
