"""Reading loosely typed vendor payloads: a wrong type is "absent", never an exception."""

from __future__ import annotations

import math
from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_number(value: Any) -> float | None:
    """A finite number from a number or a numeric string (vendors send both)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def as_positive_int(value: Any) -> int | None:
    number = as_number(value)
    return int(number) if number is not None and number >= 1 else None
