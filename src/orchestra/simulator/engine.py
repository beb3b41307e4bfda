"""The simulator's answers: deterministic for a seed, model and prompt.

Plain questions get arithmetic, a known fact (right or wrong by the model's accuracy) or a
labelled generic reply; fusion's judge prompt and the debate's revision and synthesis
prompts are recognised by the markers they are written with (:mod:`orchestra.markers`).
With an oracle (:mod:`orchestra.simulator.oracle`), a question of its dataset is answered
right at the model's accuracy, and ``orchestra eval``'s grading judge is answered with
scores from the oracle's gold.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from orchestra import markers
from orchestra.schemas.chat import ChatRequest
from orchestra.simulator.arithmetic import fmt, solve_arithmetic
from orchestra.simulator.models import FACTS, SIMULATED_MODELS
from orchestra.simulator.oracle import Oracle, OracleEntry, accuracy_of, matches_gold, oracle_reply


class SimulatorEngine:
    """Deterministic answers: same seed, model and prompt -> same text."""

    def __init__(
        self,
        seed: int = 7,
        *,
        oracle: Oracle | None = None,
        accuracy: Mapping[str, float] | None = None,
    ) -> None:
        self.seed = seed
        self.oracle = oracle
        #: per-model accuracy on the oracle's questions (absent: the model's own)
        self.accuracy = dict(accuracy or {})

    def _draw(self, *parts: str) -> float:
        digest = hashlib.blake2b("\x1f".join((str(self.seed), *parts)).encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big") / 2**64

    def answer(self, model: str, request: ChatRequest) -> str:
        question = next((m.text() for m in reversed(request.messages) if m.role == "user"), "")
        candidates = markers.CANDIDATES.findall(question)
        if candidates and markers.GRADING_MARK in question:
            return self._grade(model, question, candidates)
        if candidates and markers.JUDGEMENT_MARK in question:
            return self._judge(model, question, candidates)
        debaters = markers.DEBATERS.findall(question)
        if debaters and markers.REVISION_MARK in question:
            return self._revise(model, question, debaters)
        if debaters and markers.SYNTHESIS_MARK in question:
            return self._synthesise(debaters)
        return self._reply(model, question, request.seed)

    def _revise(self, model: str, prompt: str, others: list[str]) -> str:
        """A debate revision: keep an answer the others share, else often adopt theirs."""
        from orchestra.fusion.answers import normalize

        mine = markers.YOUR_ANSWER.search(prompt)
        own = mine[1].strip() if mine else ""
        keys = [normalize(o).key for o in others]
        majority = max(set(keys), key=keys.count)
        if normalize(own).key == majority or keys.count(majority) * 2 <= len(keys):
            return f"CHANGED: no - the others agree with me, or did not convince me.\n{own}"
        unanimous = len(set(keys)) == 1 and len(keys) >= 2
        if unanimous or self._draw(model, prompt, "persuaded") < 0.8:
            adopted = others[keys.index(majority)]
            return f"CHANGED: yes - the other participants' answer holds up.\n{adopted}"
        return f"CHANGED: no - I still think I am right.\n{own}"

    def _synthesise(self, answers: list[str]) -> str:
        """A debate judge: the majority answer, its support, and the dissent."""
        from orchestra.fusion.answers import normalize

        keys = [normalize(a).key for a in answers]
        majority = max(set(keys), key=keys.count)
        final = answers[keys.index(majority)]
        dissent = len(keys) - keys.count(majority)
        lines = [final, f"Rationale: {keys.count(majority)} of {len(keys)} participants agree."]
        if dissent:
            lines.append(f"Dissent: {dissent} participant(s) answered differently.")
        return "\n".join(lines)

    def _judge(self, model: str, prompt: str, candidates: list[str]) -> str:
        """Judging (fusion's judge prompt): pick the candidate that matches its own answer."""
        from orchestra.fusion.agreement import similarity
        from orchestra.fusion.answers import normalize

        asked = markers.LAST_USER_TURN.search(prompt)
        own = normalize(self._reply(model, asked[1].strip() if asked else ""))
        scores = [similarity(own, normalize(c)) for c in candidates]
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
        reason = "it agrees with my own answer" if scores[best] >= 0.8 else "none matched mine"
        return json.dumps({"best": best + 1, "reason": f"Answer {best + 1}: {reason}."})

    def _reply(self, model: str, question: str, seed: int | None = None) -> str:
        if self.oracle is not None and (entry := self.oracle.find(question)) is not None:
            return self._from_oracle(model, entry, seed)
        spec = SIMULATED_MODELS.get(model, SIMULATED_MODELS["sim-medium"])
        right = self._draw(model, question, "right") < spec.accuracy
        value = solve_arithmetic(question)
        if value is not None:
            if not right:
                value += 1 if self._draw(model, question, "delta") < 0.5 else -1
            return f"The answer is {fmt(value)}."
        lowered = question.lower()
        for key, (good, bad) in FACTS.items():
            if key in lowered:
                return f"The answer is {good if right else bad}."
        return self._generic(model, question)

    def _from_oracle(self, model: str, entry: OracleEntry, seed: int | None) -> str:
        """Right with the model's accuracy; the draw keyed by the seed when one is sent, so
        k samples of one model are k independent draws."""
        assert self.oracle is not None
        parts = (model, entry.question, "oracle", *(() if seed is None else (str(seed),)))
        right = self._draw(*parts, "right") < accuracy_of(model, self.accuracy)
        return oracle_reply(self.oracle, entry, right, self._draw(*parts, "pick"))

    def _grade(self, model: str, prompt: str, candidates: list[str]) -> str:
        """``orchestra eval``'s judge: each quoted answer scored 9 when it gives the
        oracle's gold and 2 otherwise, the judge honest with its own accuracy (else the
        score flips). Without the question in the oracle: agreeing answers 8, others 4."""
        from orchestra.fusion.agreement import similarity
        from orchestra.fusion.answers import normalize

        block = markers.GRADED_QUESTION.search(prompt)
        entry = self.oracle.find(block[1]) if self.oracle is not None and block else None
        accuracy = accuracy_of(model, self.accuracy)
        scores = []
        for i, text in enumerate(candidates):
            if entry is None:
                others = [normalize(c) for j, c in enumerate(candidates) if j != i]
                agree = any(similarity(normalize(text), o) >= 0.8 for o in others)
                scores.append(8 if agree else 4)
                continue
            good = matches_gold(entry, text)
            honest = self._draw(model, prompt, "grade", str(i)) < accuracy
            scores.append(9 if good == honest else 2)
        return json.dumps({"scores": scores, "reason": "Scored against the expected answer."})

    def _generic(self, model: str, question: str) -> str:
        words = re.findall(r"[A-Za-z][\w'-]*", question)[:12]
        topic = " ".join(words) or "your message"
        style = ["In short", "Briefly", "To summarise", "Put simply"]
        lead = style[int(self._draw(model, question, "style") * len(style))]
        return (
            f"{lead}: this is a simulated reply from {model} about {topic!r}. "
            "Configure a real provider key to get real answers."
        )
