"""LMArena's text leaderboard: the arena rating of each model, Orchestra's quality signal.

The published file (lmarena/arena-catalog ``data/leaderboard-text.json``) maps a category
(``full``, ``coding``, ``hard_6``...) to ``{model: {"rating", "rating_q025", "rating_q975"}}``;
the overall ``full`` category is used. Rows in a list (``[{"model", "rating"}]``) and the
older leaderboard CSV (``key,Model,...,Arena Elo rating`` or ``Elo rating``) are read too; a
CSV without a rating column is refused, naming the columns expected.

The vision and image leaderboards have the same shape and their own ``full`` category, but
rate something else: a payload is recognised by the categories only one leaderboard
publishes, and by the leaderboard its file or URL names (``leaderboard-vision.json``);
anything recognised as another leaderboard than the text one is refused.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

import httpx

from orchestra.catalog.models import Catalog
from orchestra.errors import SyncFailed
from orchestra.sync.fetch import get_payload
from orchestra.sync.records import Batch, SourceRecord
from orchestra.sync.values import as_dict, as_number

DEFAULT_CATEGORY = "full"
RATING_KEYS = (
    "rating",
    "arena_score",
    "score",
    "elo",
    "Arena Elo rating",
    "Elo rating",
    "Arena Score",
)
NAME_KEYS = ("model", "key", "name", "model_name", "Model")
#: an arena rating outside this range is not one (a percentage, a rank, a typo)
RATING_RANGE = (500.0, 3000.0)
#: the leaderboard Orchestra's quality is read from
TEXT = "text"
#: categories only one leaderboard publishes (``data/leaderboard-*.json``, 2024-2025)
MARKER_CATEGORIES = {
    TEXT: frozenset({"coding", "math", "hard_6", "hard_english_6", "if", "multiturn"}),
    "vision": frozenset(
        {
            "captioning",
            "creative_writing_vision",
            "diagram",
            "entity_recognition",
            "homework",
            "humor",
            "ocr",
        }
    ),
    "image": frozenset({"is_preset_generation", "not_preset_generation"}),
}
#: leaderboards a file or URL may name (``leaderboard-vision.json``, ``webdev.csv``)
LEADERBOARD_NAMES = frozenset({TEXT, "vision", "image", "webdev", "search", "video", "copilot"})


class LMArenaSource:
    name = "lmarena"

    def __init__(
        self, url: str, *, category: str = DEFAULT_CATEGORY, timeout_s: float = 30.0
    ) -> None:
        self.url = url
        self.category = category
        self.timeout_s = timeout_s

    async def fetch(self, client: httpx.AsyncClient, catalog: Catalog) -> Any:
        return await get_payload(client, self.url, source=self.name, timeout_s=self.timeout_s)

    def parse(self, payload: Any, origin: str) -> Batch:
        self._refuse_other_leaderboards(payload, origin)
        batch = Batch(self.name, origin)
        for ref, row in self._rows(payload):
            rating = next((as_number(row[k]) for k in RATING_KEYS if k in row), None)
            if rating is None:
                batch.skip(ref, "no arena rating")
            elif not RATING_RANGE[0] <= rating <= RATING_RANGE[1]:
                batch.skip(ref, f"rating {rating:g} is outside {RATING_RANGE}")
            else:
                names = tuple(n for n in (row.get("Model"),) if isinstance(n, str) and n)
                batch.records.append(
                    SourceRecord(self.name, ref, {"quality": round(rating, 1)}, names)
                )
        return batch

    def _refuse_other_leaderboards(self, payload: Any, origin: str) -> None:
        evidence = leaderboard_evidence(payload, origin)
        others = sorted(board for board in evidence if board != TEXT)
        if others:
            why = "; ".join(evidence[board] for board in others)
            raise SyncFailed(
                f"{self.name}: {origin} is the LMArena {others[0]} leaderboard ({why}), not "
                "the text leaderboard Orchestra's quality scores come from; the catalog is "
                "unchanged",
                source=self.name,
            )

    def _rows(self, payload: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(payload, str):
            yield from _csv_rows(payload)
            return
        if isinstance(payload, dict) and self.category in payload:
            payload = payload[self.category]
        elif isinstance(payload, dict) and isinstance(payload.get("data"), list):
            payload = payload["data"]
        if isinstance(payload, dict):
            for ref, row in payload.items():
                if isinstance(row, dict) and not _is_category(row):
                    yield str(ref), row
        elif isinstance(payload, list):
            for row in payload:
                ref = next((row[k] for k in NAME_KEYS if k in as_dict(row)), None)
                if isinstance(ref, str):
                    yield ref, row
        else:
            raise ValueError("expected a leaderboard: {category: {model: {rating...}}}")


def leaderboard_evidence(payload: Any, origin: str) -> dict[str, str]:
    """The leaderboards ``payload`` (read from ``origin``) looks like, each with why."""
    evidence: dict[str, str] = {}
    if isinstance(payload, dict):
        for board, markers in MARKER_CATEGORIES.items():
            if found := sorted(markers & payload.keys()):
                evidence[board] = f"categories {', '.join(found)}"
    basename = re.split(r"[/\\]", origin.split("?")[0])[-1].lower()
    for word in sorted(LEADERBOARD_NAMES & set(re.split(r"[^a-z0-9]+", basename))):
        evidence.setdefault(word, f"the name {basename!r}")
    return evidence


def _is_category(row: dict[str, Any]) -> bool:
    """A nested category (the file without ``full``): not a model's row."""
    return bool(row) and all(isinstance(v, dict) for v in row.values())


def _csv_rows(text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    if not any(key in columns for key in RATING_KEYS):
        raise ValueError(
            f"the CSV has no rating column: expected one of {', '.join(RATING_KEYS)}; "
            f"its columns are {', '.join(columns) or 'none'}"
        )
    for row in reader:
        ref = row.get("key") or row.get("Model")
        if ref:
            yield ref, {k: v for k, v in row.items() if v not in (None, "", "-")}
