"""Swarm and plugins as dockerd 20.10 answers them on a node that is in no swarm and has
no plugin installed.

berth runs no swarm (ADR/0046): joining or starting one is refused with a 400 naming it,
and everything else answers what dockerd answers before `docker swarm init`. Clients
rely on those answers: docker-py's `leave_swarm(force=True)` counts dockerd's 503 as
"left", and `docker info` / `docker plugin ls` read an empty cluster and plugin list.
"""

from __future__ import annotations

from berth.domain.errors import InvalidParameter, NotFound, Unavailable
from berth.domain.settings_rules import go_quote
from berth.domain.swarm import NOT_A_MANAGER, NOT_IN_A_SWARM

from .server import App, Reply, Request, Router, json_reply

SWARM_OBJECTS = ("nodes", "services", "tasks", "secrets", "configs")  # their lists


async def not_in_a_swarm(app: App, request: Request) -> Reply:
    raise Unavailable(NOT_IN_A_SWARM)


async def not_a_manager(app: App, request: Request) -> Reply:
    raise Unavailable(NOT_A_MANAGER)


async def no_swarm_mode(app: App, request: Request) -> Reply:
    raise InvalidParameter("swarm mode (docker swarm init/join) is not supported by berth")


async def list_plugins(app: App, request: Request) -> Reply:
    return json_reply([])


async def no_such_plugin(app: App, request: Request) -> Reply:
    raise NotFound(f"plugin {go_quote(request.params['name'])} not found")


async def no_plugins(app: App, request: Request) -> Reply:
    raise InvalidParameter("plugins (docker plugin install) are not supported by berth")


def register(router: Router) -> None:
    # Literal paths, one route each: the fuzzing draws every route from its template.
    router.add("POST", "/swarm/init", no_swarm_mode)
    router.add("POST", "/swarm/join", no_swarm_mode)
    router.add("POST", "/swarm/leave", not_in_a_swarm)
    router.add("GET", "/swarm", not_a_manager)
    router.add("GET", "/swarm/unlockkey", not_a_manager)
    router.add("POST", "/swarm/update", not_a_manager)
    router.add("POST", "/swarm/unlock", not_a_manager)
    for kind in SWARM_OBJECTS:
        router.add("GET", f"/{kind}", not_a_manager)
    router.add("GET", "/plugins", list_plugins)
    router.add("POST", "/plugins/pull", no_plugins)
    router.add("GET", "/plugins/(?P<name>.+)/json", no_such_plugin)
