"""The composition roots: settings in, what one function serves out.

One root per deployed function, each building only what that function serves, in a module
that imports only what it builds (:mod:`.roots`: ``build_generate``; :mod:`.multi`:
``build_multi``; :mod:`.debate`: ``build_debate_api``, ``build_debate_steps``; :mod:`.sync`:
``build_sync``), and ``build_services``, which composes all of them for ``orchestra serve``
and the tests. ``root(name)`` imports an API function's root by its name (``ROOTS``).
Nothing here runs at import.
"""

from orchestra.compose.roots import ROOTS, build_generate, build_services, root
from orchestra.compose.services import Services

__all__ = ["ROOTS", "Services", "build_generate", "build_services", "root"]
