"""Published ports: Docker's `-p` syntax, and what a container's settings ask to forward.

`parse_publish` reads one `-p/--publish` value the way the docker CLI does
(`[ip:][hostPort:]containerPort[/proto]`, with ranges) into `ExposedPorts` keys and
`PortBindings`; `requested_forwards` turns a container's settings into the list of
forwards to set up at start, host port 0 meaning "any free port"; `port_map` and
`list_ports` give back Docker's `NetworkSettings.Ports` and the `Ports` of a `ps` entry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidParameter

PROTOCOLS = ("tcp", "udp", "sctp")
FORWARDED_PROTOCOLS = ("tcp", "udp")


@dataclass(frozen=True, order=True)
class PublishedPort:
    """One container port forwarded from a host address and port (0: any free port)."""

    container_port: int
    protocol: str
    host_ip: str
    host_port: int

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.protocol}"


def _port_number(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= 65535:
        raise InvalidParameter(f"invalid {what}: {text}")
    return int(text)


def _port_range(text: str, what: str) -> range:
    low, dash, high = text.partition("-")
    first = _port_number(low, what)
    last = _port_number(high, what) if dash else first
    if last < first:
        raise InvalidParameter(f"invalid {what}: {text}")
    return range(first, last + 1)


def parse_publish(spec: str) -> tuple[list[str], dict[str, list[dict[str, str]]]]:
    """One `-p` value: the exposed port keys and the bindings it adds, in Docker's JSON."""
    if not isinstance(spec, str) or not spec:
        raise InvalidParameter(f"invalid publish specification: {spec!r}")
    rest, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidParameter(f"invalid proto: {proto}")
    if rest.startswith("["):
        raise InvalidParameter(f"invalid IP address {rest}: berth's networks are IPv4 only")
    parts = rest.split(":")
    if len(parts) > 3:
        raise InvalidParameter(f"invalid port format: {spec}")
    ip, host, container = "", "", parts[-1]
    if len(parts) == 3:
        ip, host = parts[0], parts[1]
    elif len(parts) == 2:
        host = parts[0]
    if ip:
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise InvalidParameter(f"invalid IP address: {ip}") from None
    if not container:
        raise InvalidParameter(f"no port specified: {spec}<empty>")
    container_ports = _port_range(container, "containerPort")
    host_ports: range | None = _port_range(host, "hostPort") if host else None
    if (
        host_ports is not None
        and len(host_ports) != len(container_ports)
        and len(container_ports) != 1
    ):
        raise InvalidParameter(
            f"invalid ranges specified for container and host Ports: {container} and {host}"
        )
    exposed: list[str] = []
    bindings: dict[str, list[dict[str, str]]] = {}
    for index, port in enumerate(container_ports):
        key = f"{port}/{proto}"
        exposed.append(key)
        if host_ports is None:
            host_port = ""
        elif len(host_ports) == len(container_ports):
            host_port = str(host_ports[index])
        else:
            # One container port, a host range: Docker takes any free port of the range.
            host_port = f"{host_ports[0]}-{host_ports[-1]}"
        bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": host_port})
    return exposed, bindings


def parse_publish_all(specs: Iterable[str]) -> tuple[list[str], dict[str, list[dict[str, str]]]]:
    exposed: list[str] = []
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        keys, more = parse_publish(spec)
        exposed += [k for k in keys if k not in exposed]
        for key, found in more.items():
            bindings.setdefault(key, []).extend(found)
    return exposed, bindings


def _split_key(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    return int(port.split("-")[0]), proto or "tcp"


def requested_forwards(
    exposed_ports: Sequence[str],
    port_bindings: Mapping[str, Any] | None,
    publish_all: bool,
) -> list[PublishedPort]:
    """What to forward at start: every binding, plus each exposed port with `-P`.

    Host ports "" and "0" mean any free port; a host range means its first port (the
    forwarder reports the port actually bound). SCTP is accepted but not forwarded.
    """
    forwards: set[PublishedPort] = set()
    for key, bindings in (port_bindings or {}).items():
        container_port, proto = _split_key(key)
        for binding in bindings or ():
            host_ip = str(binding.get("HostIp") or "")
            text = str(binding.get("HostPort") or "0").split("-")[0]
            forwards.add(PublishedPort(container_port, proto, host_ip, int(text or 0)))
    if publish_all:
        bound = {_split_key(k) for k in port_bindings or {}}
        for key in exposed_ports:
            if _split_key(key) not in bound:
                container_port, proto = _split_key(key)
                forwards.add(PublishedPort(container_port, proto, "", 0))
    return sorted(f for f in forwards if f.protocol in FORWARDED_PROTOCOLS)


def port_map(
    exposed_ports: Sequence[str], published: Iterable[PublishedPort]
) -> dict[str, list[dict[str, str]] | None]:
    """Docker's `NetworkSettings.Ports`: each exposed port, with its host bindings or null."""
    ports: dict[str, list[dict[str, str]] | None] = {key: None for key in exposed_ports}
    for forward in sorted(published):
        entry = {"HostIp": forward.host_ip or "0.0.0.0", "HostPort": str(forward.host_port)}
        found = ports.get(forward.key)
        ports[forward.key] = [*(found or []), entry]
    return ports


def list_ports(ports: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`GET /containers/json`'s `Ports`: one entry per binding, or per unbound port."""
    entries: list[dict[str, Any]] = []
    for key in sorted(ports, key=_split_key):
        port, proto = _split_key(key)
        bindings = ports[key]
        if not bindings:
            entries.append({"PrivatePort": port, "Type": proto})
            continue
        for binding in bindings:
            entries.append(
                {
                    "IP": binding["HostIp"],
                    "PrivatePort": port,
                    "PublicPort": int(binding["HostPort"]),
                    "Type": proto,
                }
            )
    return entries
