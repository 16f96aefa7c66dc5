"""The network view: one row per network that exists (its id and name, for listing), and
the documents of `GET /networks` and `GET /networks/{id}` in dockerd 20.10's shape.

A document is built from the Network aggregate itself (the engine keeps decoded
aggregates, ADR 0037): it holds the allocations that make its `Containers` map.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from berth.domain.errors import InvalidParameter
from berth.domain.network import Network

from ..store.events import LoggedEvent
from .filters import label_matches, pattern_filter

Row = dict[str, Any]
# dockerd's acceptedNetworkFilters (api/server/router/network/filter.go).
LIST_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
PRUNE_FILTERS = ("label", "label!", "until")
BUILTIN_NAMES = ("bridge", "host", "none")
BUILTIN_DRIVERS = {"host": "host", "none": "null"}


def fold(row: Row | None, event: LoggedEvent) -> Row | None:
    """The network's row after `event`: kept once removed (its bridge may be left over
    from a crash, which reconcile removes), marked so."""
    match event.name:
        case "Created":
            return {"name": event.data["name"], "position": event.position}
        case "Recreated":
            return {"name": event.data["settings"]["name"], "position": event.position}
        case "Removed":
            return None if row is None else {**row, "removed": True}
    return row


@dataclass(frozen=True)
class Endpoint:
    """One container on a network, as the network's `Containers` map shows it."""

    container_id: str
    name: str
    endpoint_id: str
    mac: str
    address: str
    address6: str = ""


def builtin_document(name: str, network_id: str) -> dict[str, Any]:
    """`host` and `none`, listed as dockerd lists them."""
    return {
        "Name": name,
        "Id": network_id,
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


def document(
    network: Network, created: str, endpoints: Sequence[Endpoint], options: Mapping[str, str]
) -> dict[str, Any]:
    default = network.is_default_bridge
    return {
        **builtin_document("none", network.id),
        "Name": network.name,
        "Created": created,
        "Driver": network.driver,
        "IPAM": {
            "Driver": "default",
            "Options": None if default else network.ipam_options,
            "Config": _ipam_configs(network),
        },
        "EnableIPv6": network.enable_ipv6,
        "Internal": network.internal,
        "Attachable": network.attachable,
        "Containers": {
            e.container_id: {
                "Name": e.name,
                "EndpointID": e.endpoint_id,
                "MacAddress": e.mac,
                "IPv4Address": f"{e.address}/{network.prefix_length}",
                "IPv6Address": f"{e.address6}/{network.prefix6_length}" if e.address6 else "",
            }
            for e in sorted(endpoints, key=lambda e: e.container_id)
        },
        "Options": dict(options),
        "Labels": dict(network.labels),
    }


def _ipam_configs(network: Network) -> list[dict[str, Any]]:
    """IPAM.Config as recorded at create; for the default bridge, and networks recorded
    before it was (IPv4 only, then), made from the settings."""
    if network.ipam_shown is not None:
        return network.ipam_shown
    config: dict[str, Any] = {"Subnet": network.subnet, "Gateway": network.gateway}
    if network.ip_range:
        config["IPRange"] = network.ip_range
    if network.aux_addresses:
        config["AuxiliaryAddresses"] = dict(network.aux_addresses)
    return [config]


def check_filters(filters: Mapping[str, Sequence[str]], allowed: Sequence[str]) -> None:
    for key, values in filters.items():
        if key not in allowed:
            raise InvalidParameter(f"Invalid filter '{key}'")
        if key == "type":
            for value in values:
                if value not in ("custom", "builtin"):
                    raise InvalidParameter(f"invalid filter: 'type'='{value}'")
        if key == "dangling":
            for value in values:
                if value.lower() not in ("true", "false", "1", "0"):
                    raise InvalidParameter(
                        f"invalid value for filter 'dangling': '{value}' (expected true or false)"
                    )


def matches(doc: Mapping[str, Any], filters: Mapping[str, Sequence[str]]) -> bool:
    """dockerd's filterNetworks: values of a key OR-ed, keys AND-ed."""
    checks: dict[str, Callable[[str], bool]] = {
        "name": lambda v: pattern_filter("name", v)(doc["Name"]),
        "id": lambda v: pattern_filter("id", v)(doc["Id"]),
        "driver": lambda v: doc["Driver"] == v,
        "scope": lambda v: doc["Scope"] == v,
        "label": lambda v: label_matches(doc["Labels"], v),
        "type": lambda v: (doc["Name"] in BUILTIN_NAMES) == (v == "builtin"),
        "dangling": lambda v: _dangling(doc) == (v.lower() in ("true", "1")),
    }
    for key, values in filters.items():
        check = checks.get(key)
        if check is not None and values and not any(check(v) for v in values):
            return False
    return True


def _dangling(doc: Mapping[str, Any]) -> bool:
    return doc["Name"] not in BUILTIN_NAMES and not doc["Containers"]
