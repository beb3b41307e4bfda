"""The simulator's oracle: a dataset's answers, so simulated models are right at a known rate.

``orchestra eval`` measures strategies offline with the simulator; for its statistics to be
checkable, a model must be right with a known probability. The oracle file is the dataset
JSONL itself (``question``, ``answer``, optional ``choices`` and ``grader``/``rubric``).
When a prompt contains one of its questions, the engine answers with the gold at the
model's accuracy and otherwise with a plausible wrong answer: a near distractor of a
number (so two wrong models sometimes agree and a vote can be wrong), another letter, or
another item's reference answer.

The reading here is deliberately minimal and lenient (unreadable lines are skipped): the
dataset's validation, with errors naming file and line, is
:mod:`orchestra.evaluation.datasets` (layer 7, which the simulator must not import). Both
take GSM8K's gold as the text after the last ``####``; a test checks that they agree on
every bundled question.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from orchestra.simulator.models import SIMULATED_MODELS

OracleKind = Literal["number", "choice", "text"]
LETTERS = "ABCDEFGH"
#: a question is indexed by this many characters of its first line (whitespace collapsed)
_HEAD = 80
_SPACE = re.compile(r"\s+")
_NUMERIC = re.compile(r"^[-+]?\d+(?:\.\d+)?$")


class OracleError(ValueError):
    """An oracle file that cannot be read, or an accuracy map that cannot be parsed."""


@dataclass(frozen=True)
class OracleEntry:
    """One question the oracle knows: its gold, and what kind of answer it is."""

    index: int
    question: str
    gold: str
    kind: OracleKind
    letters: str = ""

    @property
    def value(self) -> float:
        return float(self.gold)


def collapse(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def gsm8k_gold(answer: str) -> str:
    """The text after the last ``####`` (thousands separators dropped when it is a number)."""
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
    folded = [collapse(c).casefold() for c in choices]
    wanted = collapse(answer).casefold()
    return LETTERS[folded.index(wanted)] if wanted in folded else None


def _entry(index: int, record: Any) -> OracleEntry | None:
    if not isinstance(record, dict):
        return None
    question, answer, choices = record.get("question"), record.get("answer"), record.get("choices")
    if not isinstance(question, str) or not question.strip() or answer is None:
        return None
    if isinstance(choices, list) and 2 <= len(choices) <= len(LETTERS):
        letter = choice_letter(answer, [str(c) for c in choices])
        if letter is None:
            return None
        return OracleEntry(index, question, letter, "choice", LETTERS[: len(choices)])
    text = str(answer)
    judged = record.get("grader") in ("judge", "rubric") or "rubric" in record
    if judged:
        return OracleEntry(index, question, text.strip(), "text")
    gold = gsm8k_gold(text)
    return OracleEntry(index, question, gold, "number" if _NUMERIC.match(gold) else "text")


class Oracle:
    """The questions of a dataset, found in a prompt in a few dict lookups (one per line)."""

    def __init__(self, entries: list[OracleEntry]) -> None:
        self.entries = entries
        #: first line (collapsed, cut) -> the entries starting so, with their whole question
        self._heads: dict[str, list[tuple[OracleEntry, str]]] = {}
        for entry in entries:
            first = collapse(entry.question.strip().split("\n", 1)[0])[:_HEAD]
            self._heads.setdefault(first, []).append((entry, collapse(entry.question)))

    @classmethod
    def load(cls, path: str | Path) -> Oracle:
        try:
            lines = Path(path).read_text("utf-8").splitlines()
        except OSError as exc:
            raise OracleError(f"simulator oracle {path}: {exc.strerror or exc}") from exc
        entries: list[OracleEntry] = []
        for line in lines:
            try:
                record = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                continue
            if (entry := _entry(len(entries), record)) is not None:
                entries.append(entry)
        return cls(entries)

    def find(self, prompt: str) -> OracleEntry | None:
        """The known question ``prompt`` contains (its first line starting a line of the
        prompt, or following a ``ROLE: `` prefix there), else None."""
        whole: str | None = None
        for line in prompt.split("\n"):
            if not line.strip():
                continue
            flat = collapse(line)
            heads = [flat[:_HEAD]]
            if ": " in flat:
                heads.append(flat.split(": ", 1)[1][:_HEAD])
            for head in heads:
                for entry, flat_question in self._heads.get(head, ()):
                    whole = whole if whole is not None else collapse(prompt)
                    if flat_question in whole:
                        return entry
        return None


def distractors(value: float) -> list[float]:
    """Near wrong answers to a number, likeliest first, never the gold (nor negative for a
    non-negative gold): the slips a model makes (off by one, doubled, off by ten, halved)."""
    found: list[float] = []
    for wrong in (value + 1, value - 1, value * 2, value + 10, value / 2, value * 10, value + 2):
        if wrong != value and wrong not in found and (wrong >= 0 or value < 0):
            found.append(wrong)
    return found


def number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.10g}"


_LEADS = ("Let me work it out step by step.", "Working through the problem carefully.")


def oracle_reply(oracle: Oracle, entry: OracleEntry, right: bool, pick: float) -> str:
    """A reply to ``entry``: the gold when ``right``, else a wrong answer chosen by ``pick``
    (in [0, 1); skewed to the likeliest distractors, so wrong answers coincide)."""
    lead = _LEADS[int(pick * 1000) % len(_LEADS)]
    if entry.kind == "text":
        return entry.gold if right else _wrong_text(oracle, entry, pick)
    if right:
        final = f"({entry.gold})" if entry.kind == "choice" else entry.gold
    elif entry.kind == "choice":
        others = [c for c in entry.letters if c != entry.gold]
        final = f"({others[int(pick * pick * len(others))]})"
    else:
        wrong = distractors(entry.value)
        final = number_text(wrong[int(pick * pick * len(wrong))])
    return f"{lead}\nThe answer is {final}."


def _wrong_text(oracle: Oracle, entry: OracleEntry, pick: float) -> str:
    """Another item's reference answer (an unrelated but fluent reply)."""
    others = [e for e in oracle.entries if e.kind == "text" and e.gold != entry.gold]
    if not others:
        return "I am not able to answer this reliably; it depends on details I do not have."
    return others[int(pick * pick * len(others))].gold


def matches_gold(entry: OracleEntry, answer: str) -> bool:
    """Whether a quoted answer gives the entry's gold (numbers by value, letters, texts by
    lexical similarity)."""
    from orchestra.fusion.agreement import similarity
    from orchestra.fusion.answers import normalize

    found = normalize(answer)
    if entry.kind == "number":
        return found.value is not None and abs(found.value - entry.value) < 1e-9
    if entry.kind == "choice":
        return found.key == f"choice:{entry.gold}"
    return similarity(found, normalize(entry.gold)) >= 0.8


def parse_accuracy(text: str | None) -> dict[str, float]:
    """``sim-large=0.9,sim-small=0.5`` -> ``{"sim-large": 0.9, "sim-small": 0.5}``."""
    result: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, raw = part.partition("=")
        model = name.strip().removeprefix("simulator/")
        try:
            value = float(raw) if sep else float("nan")
        except ValueError:
            value = float("nan")
        if not 0.0 <= value <= 1.0:
            raise OracleError(
                f"simulator accuracy {part.strip()!r}: expected MODEL=P with P between 0 and 1, "
                "e.g. 'sim-large=0.9,sim-small=0.5'"
            )
        if model not in SIMULATED_MODELS:
            known = ", ".join(SIMULATED_MODELS)
            raise OracleError(
                f"simulator accuracy {part.strip()!r}: unknown model (known: {known})"
            )
        result[model] = value
    return result


def accuracy_of(model: str, overrides: Mapping[str, float]) -> float:
    """The chance ``model`` answers an oracle question right: the override, else its own."""
    name = model.removeprefix("simulator/")
    if name in overrides:
        return overrides[name]
    return SIMULATED_MODELS.get(name, SIMULATED_MODELS["sim-medium"]).accuracy
