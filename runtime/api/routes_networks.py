"""`GET /networks` and `GET /networks/{id}`: the default bridge, in Docker's shape.

Only `bridge` exists (user-defined networks are not implemented); `host` and `none` are
listed as dockerd lists them, since containers can use them by name.
"""

from __future__ import annotations

from typing import Any

import trio
from eventsourcing.application import AggregateNotFoundError

from berth.domain.container import Container
from berth.domain.errors import NotFound
from berth.domain.network import Network

from ..service.network_base import BRIDGE_NAME_OPTION
from ..service.network_files import network_id_of
from ..views.timefmt import docker_time
from .server import App, Reply, Request, Router, json_reply

BUILTIN_DRIVERS = {"host": "host", "none": "null"}


def _builtin(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Id": network_id_of(name),
        "Created": "0001-01-01T00:00:00Z",
        "Scope": "local",
        "Driver": BUILTIN_DRIVERS[name],
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": []},
        "Internal": False,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": {},
        "Labels": {},
    }


def _bridge_document(app: App) -> dict[str, Any] | None:
    try:
        network: Network = app.engine.get_aggregate(network_id_of("bridge"))
    except AggregateNotFoundError:  # not created yet
        return None
    containers: dict[str, Any] = {}
    for container_id, address in sorted(network.allocations.items()):
        container: Container = app.engine.get_aggregate(container_id)
        endpoint = container.endpoint or {}
        containers[container_id] = {
            "Name": container.name.lstrip("/"),
            "EndpointID": endpoint.get("EndpointID", ""),
            "MacAddress": endpoint.get("MacAddress", ""),
            "IPv4Address": f"{address}/{network.prefix_length}",
            "IPv6Address": "",
        }
    created = app.engine.store.aggregate_log(network.id, until_version=1)[0].timestamp
    return {
        **_builtin("none"),
        "Name": network.name,
        "Id": network.id,
        "Created": docker_time(created),
        "Driver": network.driver,
        "IPAM": {
            "Driver": "default",
            "Options": None,
            "Config": [{"Subnet": network.subnet, "Gateway": network.gateway}],
        },
        "Containers": containers,
        "Options": {
            "com.docker.network.bridge.default_bridge": "true",
            BRIDGE_NAME_OPTION: str(network.options.get(BRIDGE_NAME_OPTION, "")),
        },
    }


def _all(app: App) -> list[dict[str, Any]]:
    bridge = _bridge_document(app)
    return [*([bridge] if bridge else []), _builtin("host"), _builtin("none")]


async def list_networks(app: App, request: Request) -> Reply:
    found = await trio.to_thread.run_sync(_all, app)
    return json_reply(found)


async def inspect_network(app: App, request: Request) -> Reply:
    ref = request.params["id"]
    for document in await trio.to_thread.run_sync(_all, app):
        if ref in (document["Name"], document["Id"]) or (
            len(ref) >= 3 and document["Id"].startswith(ref)
        ):
            return json_reply(document)
    raise NotFound(f"network {ref} not found")


def register(router: Router) -> None:
    router.add("GET", "/networks", list_networks)
    router.add("GET", "/networks/(?P<id>[^/]+)", inspect_network)
