"""`/volumes`: create, list (with filters), inspect, remove and prune, in dockerd 20.10's
shapes and statuses (service/volumes.py does the work)."""

from __future__ import annotations

from typing import Any

from berth.domain.errors import InvalidParameter

from ..views.filters import parse_query_filters
from .server import App, Reply, Request, Router, json_reply, no_content


async def create_volume(app: App, request: Request) -> Reply:
    body: Any = request.json(default=None)
    if body is None:
        raise InvalidParameter("got EOF while reading request body")
    return json_reply(await app.runner.volumes.create(body, request.actor), 201)


async def list_volumes(app: App, request: Request) -> Reply:
    filters = parse_query_filters(request.query.get("filters") or "")
    found = await app.runner.volumes.list(filters)
    return json_reply({"Volumes": found, "Warnings": None})


async def inspect_volume(app: App, request: Request) -> Reply:
    return json_reply(await app.runner.volumes.inspect(request.params["name"]))


async def remove_volume(app: App, request: Request) -> Reply:
    force = request.flag("force")
    await app.runner.volumes.remove(request.params["name"], request.actor, force)
    return no_content()


async def prune_volumes(app: App, request: Request) -> Reply:
    filters = parse_query_filters(request.query.get("filters") or "")
    return json_reply(await app.runner.volumes.prune(filters, request.actor))


def register(router: Router) -> None:
    router.add("POST", "/volumes/create", create_volume)
    router.add("POST", "/volumes/prune", prune_volumes)
    router.add("GET", "/volumes", list_volumes)
    router.add("GET", "/volumes/(?P<name>[^/]+)", inspect_volume)
    router.add("DELETE", "/volumes/(?P<name>[^/]+)", remove_volume)
