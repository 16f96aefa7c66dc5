"""`/networks`: create, list (with filters), inspect, connect, disconnect, remove and
prune, in dockerd 20.10's shapes and statuses (service/user_networks.py does the work,
service/networking.py what touches a container)."""

from __future__ import annotations

from typing import Any

import trio

from berth.domain.errors import InvalidParameter, NotFound

from ..service.network_links import remove_link as remove_link_of
from ..views.filters import parse_query_filters
from .server import App, Reply, Request, Router, json_reply, no_content


def _body(request: Request) -> Any:
    body: Any = request.json(default=None)
    if body is None:
        raise InvalidParameter("got EOF while reading request body")
    if not isinstance(body, dict):
        raise InvalidParameter("expected a JSON object")
    return body


async def create_network(app: App, request: Request) -> Reply:
    return json_reply(await app.runner.networks.user.create(_body(request), request.actor), 201)


async def list_networks(app: App, request: Request) -> Reply:
    filters = parse_query_filters(request.query.get("filters") or "")
    return json_reply(await app.runner.networks.user.list_documents(filters))


async def inspect_network(app: App, request: Request) -> Reply:
    return json_reply(await app.runner.networks.user.inspect(request.params["id"]))


async def remove_network(app: App, request: Request) -> Reply:
    await app.runner.networks.user.remove(request.params["id"], request.actor)
    return no_content()


async def prune_networks(app: App, request: Request) -> Reply:
    filters = parse_query_filters(request.query.get("filters") or "")
    return json_reply(await app.runner.networks.prune(filters, request.actor))


async def connect_network(app: App, request: Request) -> Reply:
    body = _body(request)
    await app.runner.networks.connect_container(
        request.params["id"],
        str(body.get("Container") or ""),
        body.get("EndpointConfig") or {},
        request.actor,
    )
    return no_content(200)


async def disconnect_network(app: App, request: Request) -> Reply:
    body = _body(request)
    await app.runner.networks.disconnect_container(
        request.params["id"],
        str(body.get("Container") or ""),
        bool(body.get("Force")),
        request.actor,
    )
    return no_content(200)


async def remove_link(app: App, request: Request) -> Reply:
    """`DELETE /containers/<parent>/<alias>?link=1`: a legacy link removed."""
    parent, alias = request.params["parent"], request.params["alias"]
    if not request.flag("link"):
        raise NotFound(f"No such container: {parent}/{alias}")
    await trio.to_thread.run_sync(remove_link_of, app.engine, parent, alias, request.actor)
    return no_content()


def register(router: Router) -> None:
    router.add("POST", "/networks/create", create_network)
    router.add("POST", "/networks/prune", prune_networks)
    router.add("GET", "/networks", list_networks)
    router.add("GET", "/networks/(?P<id>[^/]+)", inspect_network)
    router.add("DELETE", "/networks/(?P<id>[^/]+)", remove_network)
    router.add("POST", "/networks/(?P<id>[^/]+)/connect", connect_network)
    router.add("POST", "/networks/(?P<id>[^/]+)/disconnect", disconnect_network)
    router.add("DELETE", "/containers/(?P<parent>[^/]+)/(?P<alias>[^/]+)", remove_link)
