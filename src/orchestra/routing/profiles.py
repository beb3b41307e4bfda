"""Routing profiles: how much each profile weighs quality, speed and cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from orchestra.errors import InvalidRequest

Complexity = Literal["simple", "medium", "complex"]
COMPLEXITIES: tuple[Complexity, ...] = ("simple", "medium", "complex")


@dataclass(frozen=True)
class Profile:
    name: str
    quality: float
    speed: float
    cost: float
    #: weight for spare context window (long_context only)
    context: float = 0.0
    description: str = ""

    def shifted(self, complexity: Complexity) -> Profile:
        """Hard prompts move weight toward quality, easy ones toward speed and cost."""
        shift = {"simple": -0.15, "medium": 0.0, "complex": 0.2}[complexity]
        quality = min(max(self.quality + shift, 0.05), 0.95)
        rest = self.speed + self.cost + self.context
        scale = (1.0 - quality) / rest if rest else 0.0
        return Profile(
            self.name,
            quality,
            self.speed * scale,
            self.cost * scale,
            self.context * scale,
            self.description,
        )


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("quality", 0.75, 0.10, 0.15, description="the best answer, cost second"),
        Profile("balanced", 0.45, 0.25, 0.30, description="good answers at a fair price"),
        Profile("speed", 0.20, 0.65, 0.15, description="the fastest useful answer"),
        Profile("budget", 0.20, 0.10, 0.70, description="the cheapest useful answer"),
        Profile(
            "long_context",
            0.35,
            0.10,
            0.20,
            context=0.35,
            description="large prompts; prefers the roomiest windows",
        ),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise InvalidRequest(
            f"Unknown routing profile '{name}'; use one of: {known}", param="profile"
        ) from None
