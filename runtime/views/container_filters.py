"""`docker ps` filters on a container's networks and ports, and swarm's `is-task`, as
dockerd 20.10's daemon/list.go reads them.

`network` is a network's name, or the start of its id, among those the container is
connected to; `publish` is a host port (`8080`, `8080/udp`, `8000-8090`) a running
container's port is published on, `expose` a port of a running container (exposed or
published): what its `Ports` column lists; `is-task` is true of a swarm service's task,
which berth never runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from berth.domain.errors import InvalidParameter
from berth.domain.settings_rules import split_proto_port

Entry = Mapping[str, Any]
Test = Callable[[Entry], bool]


def network_test(values: Sequence[str]) -> Test:
    def connected(entry: Entry) -> bool:
        networks = (entry.get("NetworkSettings") or {}).get("Networks") or {}
        return any(
            value in networks
            or any((n or {}).get("NetworkID", "").startswith(value) for n in networks.values())
            for value in values
        )

    return connected


def is_task_test(values: Sequence[str]) -> Test:
    if set(values) == {"false"}:
        return lambda entry: True
    if set(values) == {"true"}:
        return lambda entry: False
    raise InvalidParameter(f"Invalid filter 'is-task=[{' '.join(values)}]'")


def _ports(key: str, values: Sequence[str]) -> set[str]:
    """The container ports ("80/tcp") a publish or expose filter names."""
    ports: set[str] = set()
    for value in values:
        if ":" in value:
            raise InvalidParameter(f"filter for '{key}' should not contain ':': {value}")
        proto, port = split_proto_port(value)
        bounds = port.split("-", 1)
        for bound in bounds:  # Go's strconv.ParseUint, as nat.ParsePortRange reports it
            if not (bound.isascii() and bound.isdigit()) or int(bound) > 65535:
                raise InvalidParameter(
                    f"error while looking up for {key} {value}: strconv.ParseUint: "
                    f'parsing "{bound}": invalid syntax'
                )
        first, last = int(bounds[0]), int(bounds[-1])
        if last < first:
            raise InvalidParameter(
                f"error while looking up for {key} {value}: Invalid range specified for the "
                f"Port: {port}"
            )
        ports.update(f"{n}/{proto}" for n in range(first, last + 1))
    return ports


def port_test(key: str, values: Sequence[str]) -> Test:
    wanted = _ports(key, values)
    side = "PublicPort" if key == "publish" else "PrivatePort"

    def has(entry: Entry) -> bool:
        listed = {
            f"{port[side]}/{port.get('Type', 'tcp')}"
            for port in entry.get("Ports") or ()
            if port.get(side)
        }
        return bool(wanted & listed)

    return has


def tests(filters: Mapping[str, Sequence[str]]) -> list[Test]:
    """The tests of the network, is-task, publish and expose filters given."""
    found: list[Test] = []
    if "network" in filters:
        found.append(network_test(filters["network"]))
    if "is-task" in filters:
        found.append(is_task_test(filters["is-task"]))
    for key in ("publish", "expose"):
        if key in filters:
            found.append(port_test(key, filters[key]))
    return found
