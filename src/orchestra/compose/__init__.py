"""The composition roots: settings in, what one function serves out.

One root per deployed function, each building only what that function serves
(:mod:`.roots`: ``build_generate``, ``build_multi``, ``build_debate_api``,
``build_debate_steps``; :mod:`.sync`: ``build_sync``), and ``build_services``, which composes
all of them for ``orchestra serve`` and the tests. Nothing here runs at import.
"""

from orchestra.compose.roots import (
    ROOTS,
    build_debate_api,
    build_debate_steps,
    build_generate,
    build_multi,
    build_services,
)
from orchestra.compose.services import Services

__all__ = [
    "ROOTS",
    "Services",
    "build_debate_api",
    "build_debate_steps",
    "build_generate",
    "build_multi",
    "build_services",
]
