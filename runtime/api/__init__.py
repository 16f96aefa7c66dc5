"""berthd's Docker Engine API: an HTTP/1.1 server (trio + h11) on a unix socket.

`build_router()` gathers the route modules; each has `register(router)`.
"""

from __future__ import annotations

from collections.abc import Callable

from . import (
    routes_attach,
    routes_berth,
    routes_containers,
    routes_events,
    routes_exec,
    routes_files,
    routes_images,
    routes_networks,
    routes_observe,
    routes_registry,
    routes_swarm,
    routes_system,
    routes_volumes,
)
from .server import App, Router, serve_api

__all__ = ["App", "Router", "build_router", "serve_api"]

ROUTE_MODULES: list[Callable[[Router], None]] = [
    routes_system.register,
    routes_containers.register,
    routes_attach.register,
    routes_exec.register,
    routes_observe.register,
    routes_files.register,
    routes_registry.register,
    routes_images.register,
    routes_networks.register,
    routes_volumes.register,
    routes_events.register,
    routes_berth.register,
    routes_swarm.register,
]


def build_router() -> Router:
    router = Router()
    for register in ROUTE_MODULES:
        register(router)
    return router
