"""Datasets: JSONL files of questions (or the bundled GSM8K test set), checked line by line.

A line is a JSON object with ``question`` and ``answer``, and decides how it is graded:

- ``exact`` (the default): ``answer`` is the gold; GSM8K-style worked answers keep the
  text after the last ``####`` (``"... #### 18"`` -> ``"18"``);
- ``choice``: with ``choices`` (2..8 strings); ``answer`` is a letter (``"B"``, ``"(b)"``),
  a 0-based index (``1``) or the text of a choice, stored as the letter;
- ``judge``: with ``grader: "judge"`` or a ``rubric``; ``answer`` is the reference answer
  the judge compares with.

``id`` is optional (default ``L<line>``); other fields are ignored, so a file exported with
metadata loads as it is. A line that breaks these rules stops the load with a
:class:`DatasetError` naming the file, the line and the field: a run must not silently
measure fewer items than the file holds.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from importlib import resources
from pathlib import Path
from typing import Any

from orchestra.evaluation.records import Dataset, Item, ItemKind

#: the bundled datasets, by name (``--dataset gsm8k``)
BUNDLED = {"gsm8k": "data/gsm8k/test.jsonl"}
LETTERS = "ABCDEFGH"
_NUMERIC = re.compile(r"^[-+]?\d+(?:\.\d+)?$")


class DatasetError(ValueError):
    """A dataset that cannot be used: missing, unreadable, or a bad line (file:line: why)."""


def load(source: str, *, limit: int | None = None, seed: int = 0) -> Dataset:
    """``source``: a bundled name (``gsm8k``) or a JSONL path. Items are shuffled by
    ``random.Random(seed)`` (the same seed, the same order, on any machine), then the first
    ``limit`` kept, so ``--limit 50`` is a fair sample and a rerun asks the same 50."""
    if limit is not None and limit < 1:
        raise DatasetError(f"--limit must be at least 1 (got {limit})")
    path, name = _resolve(source)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    items = parse(raw, str(path))
    chosen = list(items)
    random.Random(seed).shuffle(chosen)
    return Dataset(
        name=name,
        path=str(path),
        fingerprint=hashlib.sha256(raw).hexdigest()[:16],
        total=len(items),
        items=chosen[:limit] if limit is not None else chosen,
    )


def bundled_path(name: str) -> Path | None:
    """The file of the bundled dataset ``name`` (None: not a bundled name), so the serving
    side can take ``ORCHESTRA_SIMULATOR_ORACLE=gsm8k`` as ``--dataset gsm8k`` does."""
    if name not in BUNDLED:
        return None
    return Path(str(resources.files("orchestra.evaluation").joinpath(BUNDLED[name])))


def _resolve(source: str) -> tuple[Path, str]:
    bundled = bundled_path(source)
    if bundled is not None:
        return bundled, source
    path = Path(source).expanduser()
    if path.is_dir():
        raise DatasetError(f"{source}: a directory, not a JSONL file")
    if not path.is_file():
        names = ", ".join(BUNDLED)
        raise DatasetError(f"{source}: no such file (bundled datasets: {names})")
    return path, path.stem


def parse(raw: bytes, where: str) -> list[Item]:
    """The items of a JSONL file's bytes, in file order; ``where`` names it in errors."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{where}: not UTF-8 text ({exc.reason})") from exc
    items: list[Item] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        item = _item(line, f"{where}:{number}", number)
        if item.id in seen:
            raise DatasetError(f"{where}:{number}: id {item.id!r} repeats line {seen[item.id]}")
        seen[item.id] = number
        items.append(item)
    if not items:
        raise DatasetError(f"{where}: no items (one JSON object per line)")
    return items


def _item(line: str, at: str, number: int) -> Item:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{at}: not JSON ({exc.msg}, column {exc.colno})") from None
    except ValueError as exc:  # e.g. an integer past Python's 4,300-digit conversion limit
        raise DatasetError(f"{at}: not usable JSON ({exc})") from None
    if not isinstance(record, dict):
        raise DatasetError(f"{at}: expected a JSON object, got {type(record).__name__}")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{at}: field 'question' must be a non-empty string")
    if record.get("answer") is None:
        raise DatasetError(f"{at}: field 'answer' is missing")
    kind = _kind(record, at)
    choices = _choices(record, at) if kind == "choice" else None
    rubric = record.get("rubric")
    if rubric is not None and not isinstance(rubric, str):
        raise DatasetError(f"{at}: field 'rubric' must be a string")
    return Item(
        id=_id(record, at, number),
        kind=kind,
        question=question,
        answer=_gold(kind, record["answer"], choices, at),
        choices=choices,
        rubric=rubric,
    )


def _kind(record: dict[str, Any], at: str) -> ItemKind:
    grader = record.get("grader")
    if grader not in (None, "exact", "choice", "judge", "rubric"):
        raise DatasetError(f"{at}: field 'grader' must be exact, choice or judge (got {grader!r})")
    if grader in ("judge", "rubric") or record.get("rubric") is not None:
        return "judge"
    if record.get("choices") is not None or grader == "choice":
        return "choice"
    return "exact"


def _choices(record: dict[str, Any], at: str) -> list[str]:
    choices = record.get("choices")
    if (
        not isinstance(choices, list)
        or not 2 <= len(choices) <= len(LETTERS)
        or not all(isinstance(c, str) and c.strip() for c in choices)
    ):
        raise DatasetError(f"{at}: field 'choices' must be a list of 2 to 8 non-empty strings")
    return choices


def _id(record: dict[str, Any], at: str, number: int) -> str:
    value = record.get("id")
    if value is None:
        return f"L{number}"
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise DatasetError(f"{at}: field 'id' must be a non-empty string or an integer")
    return str(value).strip()


def _gold(kind: ItemKind, answer: Any, choices: list[str] | None, at: str) -> str:
    if kind == "choice":
        letter = choice_letter(answer, choices or [])
        if letter is None:
            raise DatasetError(
                f"{at}: field 'answer' must be a letter A-{LETTERS[len(choices or []) - 1]}, "
                f"a 0-based index or one of the choices' texts (got {answer!r})"
            )
        return letter
    if isinstance(answer, bool) or not isinstance(answer, str | int | float):
        raise DatasetError(f"{at}: field 'answer' must be a string or a number")
    text = str(answer).strip()
    gold = gold_of(text) if kind == "exact" else text
    if not gold:
        raise DatasetError(f"{at}: field 'answer' is empty" + (" after '####'" * ("####" in text)))
    return gold


def gold_of(answer: str) -> str:
    """An exact item's gold: GSM8K's worked answers end with ``#### <number>``; the text
    after the last ``####`` is the gold (thousands separators dropped from a number).
    The simulator's oracle applies the same rule (``simulator.oracle.gsm8k_gold``; a test
    checks that both agree on every bundled question)."""
    gold = answer.rsplit("####", 1)[-1].strip()
    plain = gold.replace(",", "")
    return plain if _NUMERIC.match(plain) else gold


def choice_letter(answer: Any, choices: list[str]) -> str | None:
    """A letter (``B``, ``(b)``), a 0-based index or a choice's text, as the letter."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return LETTERS[answer] if 0 <= answer < len(choices) else None
    if not isinstance(answer, str):
        return None
    bare = answer.strip().strip("()").strip().upper()
    if len(bare) == 1 and bare in LETTERS[: len(choices)]:
        return bare
    folded = [" ".join(c.split()).casefold() for c in choices]
    wanted = " ".join(answer.split()).casefold()
    return LETTERS[folded.index(wanted)] if wanted in folded else None
