"""The simulated models (different accuracy and speed), and the factual questions they know
(and sometimes get wrong, so answers can disagree)."""

from __future__ import annotations

from dataclasses import dataclass

LABEL = "orchestra-simulator"


@dataclass(frozen=True)
class SimulatedModel:
    accuracy: float  # chance a checkable answer is right
    ttft_ms: float  # time to first token
    tokens_per_s: float


SIMULATED_MODELS: dict[str, SimulatedModel] = {
    "sim-large": SimulatedModel(accuracy=0.95, ttft_ms=120, tokens_per_s=80),
    "sim-medium": SimulatedModel(accuracy=0.85, ttft_ms=60, tokens_per_s=150),
    "sim-small": SimulatedModel(accuracy=0.6, ttft_ms=25, tokens_per_s=400),
    "sim-long": SimulatedModel(accuracy=0.8, ttft_ms=150, tokens_per_s=100),
}

FACTS: dict[str, tuple[str, str]] = {
    # keyword -> (right answer, a plausible wrong one)
    "capital of france": ("Paris", "Lyon"),
    "capital of australia": ("Canberra", "Sydney"),
    "capital of canada": ("Ottawa", "Toronto"),
    "capital of japan": ("Tokyo", "Kyoto"),
    "largest planet": ("Jupiter", "Saturn"),
    "speed of light": ("about 299,792 km/s", "about 300,000 miles/s"),
    "boiling point of water": ("100 degrees Celsius at sea level", "90 degrees Celsius"),
    "author of hamlet": ("William Shakespeare", "Christopher Marlowe"),
}
