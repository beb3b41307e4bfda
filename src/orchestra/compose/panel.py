"""What the multi-generate and debate roots share: panel selection and the fan-out."""

from __future__ import annotations

from orchestra.compose.core import Core
from orchestra.generate.service import Generate
from orchestra.panel.fanout import FanOut
from orchestra.panel.selection import Selector


def selector(core: Core) -> Selector:
    settings = core.settings
    return Selector(
        core.router,
        core.breaker,
        max_models=settings.multi_max_models,
        default_count=settings.multi_default_count,
        default_profile=settings.default_profile,
    )


def fanout_of(gateway: Generate) -> FanOut:
    """Fan-out through generate's fallback runner, registry and metrics."""
    return FanOut(gateway.registry, gateway.runner, gateway.metrics)
