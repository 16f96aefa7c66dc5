"""A module bound now and imported when one of its attributes is first read (ADR/0048).

berthd's idle process should hold only what serving `ps` needs; the libraries of a
pull (httpx), of image signatures (cryptography), of a fleet's store (psycopg) and of
metrics (prometheus_client) are megabytes each. A module that uses one binds it as

    if TYPE_CHECKING:
        import httpx
    else:
        httpx = lazy_module("httpx")

so that type checkers see the real module and the process imports it at first use.
Only attribute reads load it: a module-level use (a base class, a constant computed at
import) loads it at import, which tests/runtime/test_idle_imports.py catches.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

#: Parts of those libraries berthd never uses that would load more libraries still:
#: httpx's command line client imports click, rich and pygments whenever they are
#: installed (4.7 MB of a berthd that has pulled). A None in sys.modules makes their
#: import fail, which httpx expects (it then has no `httpx` command).
_NEVER_LOADED = {"httpx": ("httpx._main",)}


class _LazyModule(types.ModuleType):
    """Stands for the module of the same name; not in sys.modules itself."""

    def __getattr__(self, attribute: str) -> Any:
        for part in _NEVER_LOADED.get(self.__name__, ()):
            sys.modules.setdefault(part, None)  # type: ignore[arg-type]
        # import_module holds the module's import lock: threads racing here get one module.
        return getattr(importlib.import_module(self.__name__), attribute)


def lazy_module(name: str) -> types.ModuleType:
    """`name` (a dotted module path), imported at the first attribute read."""
    return _LazyModule(name)
