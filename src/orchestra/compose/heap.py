"""The heap a built function keeps for its whole life, taken out of the collector's way.

Once services and app are built, most objects alive (modules, the FastAPI app, pydantic
validators, the catalog) live as long as the process. CPython's cyclic collector would
still walk all of them at every full collection, and the more a function imports the more
each costs: measured under load (``bench/overhead.py``'s setting), the gateway spent about
a fifth of its CPU on it. :func:`settle_heap` moves them to the permanent generation
(``gc.freeze``) and makes young collections rarer, as long-running Python servers do.
Garbage made per request is still collected; only the start-up heap is exempt.
"""

from __future__ import annotations

import gc

#: collections of the youngest generation happen after this many net allocations
#: (CPython's default is 700: tuned for small scripts, not for a server's steady state)
GEN0_THRESHOLD = 7_000
#: and older generations after this many collections of the one below (default 10)
OLDER_THRESHOLD = 20


def settle_heap(enabled: bool = True) -> None:
    """Freeze what is alive now and raise the thresholds (once services and app exist)."""
    if not enabled:
        return
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(
        max(gen0, GEN0_THRESHOLD), max(gen1, OLDER_THRESHOLD), max(gen2, OLDER_THRESHOLD)
    )
