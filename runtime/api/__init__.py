"""berthd's Docker Engine API: an HTTP/1.1 server (trio + h11) on a unix socket.

`build_router()` gathers the route modules. Each has `register(router)`; a module not
listed in `ROUTE_MODULES` can hook in through `OPTIONAL_ROUTE_MODULES`, which are used
when they exist.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

from . import routes_berth, routes_containers, routes_images, routes_networks, routes_system
from .server import App, Router, serve_api

__all__ = ["App", "Router", "build_router", "serve_api"]

ROUTE_MODULES: list[Callable[[Router], None]] = [
    routes_system.register,
    routes_containers.register,
    routes_images.register,
    routes_networks.register,
    routes_berth.register,
]

# HOOK for `/events` (written separately): `berth.runtime.api.routes_events.register(router)`
# is called when that module exists. More modules may be added here the same way.
OPTIONAL_ROUTE_MODULES = ("routes_events",)


def build_router() -> Router:
    router = Router()
    for register in ROUTE_MODULES:
        register(router)
    for name in OPTIONAL_ROUTE_MODULES:
        full = f"{__name__}.{name}"
        if importlib.util.find_spec(full) is not None:
            module = importlib.import_module(full)
            module.register(router)
    return router
