"""The names of a container's network pieces, and the files it gets in /etc.

Names derive from what they belong to (the bridge's from the root, a network's id from
its name, a namespace's and a veth's from the container's short id), so that two engines
on one host never share one and a crash never leaves one nobody can find again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.domain.network_files import hostname_file, hosts_file, resolv_conf
from berth.domain.published_ports import PublishedPort
from berth.domain.settings_rules import HOST_GATEWAY

from .engine import DEFAULT_ROOT

DEFAULT_BRIDGE = "berth0"
#: What inspect's NetworkSettings names each file the container gets, and its name.
FILES = {"HostsPath": "hosts", "HostnamePath": "hostname", "ResolvConfPath": "resolv.conf"}


def default_bridge_name(root: Path) -> str:
    """berth0 for the default root; any other root gets its own bridge, so that two
    engines on one host (or two test runs) never share one."""
    if root == DEFAULT_ROOT:
        return DEFAULT_BRIDGE
    return "berth-" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]


def user_bridge_name(root_bridge: str, network_id: str) -> str:
    """A user-defined network's bridge: `br-` (as dockerd's) and a hash of the root's own
    bridge and the network id, as network ids derive from names alone."""
    return "br-" + hashlib.sha256(f"{root_bridge}:{network_id}".encode()).hexdigest()[:12]


def endpoint_names(bridge: str, short: str) -> tuple[str, str]:
    """(netns, host veth) of a container's endpoint, from its 12-character short id."""
    return f"{bridge}-{short}", f"vb{short}"


def network_id_of(name: str, host: str = "") -> str:
    """Network ids derive from the name, so two processes creating `bridge` collide; and
    from the fleet host, as networks (the default bridge's addresses too) are per host."""
    where = f"berth.host:{host}/" if host else ""
    return hashlib.sha256(f"{where}berth.network:{name}".encode()).hexdigest()


def endpoint_id_of(network_id: str, container_id: str) -> str:
    return hashlib.sha256(f"{network_id}:{container_id}".encode()).hexdigest()


@dataclass(frozen=True)
class BridgeSettings:
    """berthd's `--bridge` and `--bip`: used only when the `bridge` network is first created."""

    bridge: str = DEFAULT_BRIDGE
    bip: str | None = None


@dataclass
class Attachment:
    """What the OCI spec needs from the network: the namespace to join and files to mount."""

    netns_path: str | None = None
    hostname: str | None = None
    mounts: list[dict[str, Any]] = field(default_factory=list)
    env: list[str] = field(default_factory=list)  # what links give (under the config's)


def etc_files(directory: Path) -> dict[str, Path]:
    """The files the engine binds over a container's /etc/hosts, /etc/hostname and
    /etc/resolv.conf, by destination, as they lie in its `directory`."""
    return {f"/etc/{name}": directory / name for name in FILES.values()}


def bind_mount(source: Path, destination: str) -> dict[str, Any]:
    return {
        "destination": destination,
        "type": "bind",
        "source": str(source),
        "options": ["rbind", "rprivate"],
    }


def write_files(
    directory: Path,
    hostname: str,
    address: str | None,
    host_config: dict[str, Any],
    *,
    host: bool = False,
    linked: Sequence[str] = (),
    host_gateway: str | None = None,
    nameserver: str | None = None,
) -> list[dict[str, Any]]:
    """/etc/hosts, /etc/hostname and /etc/resolv.conf of a container (the host's own
    hosts with the host's network; `nameserver` berth's name server of a user-defined
    network); the mounts that put them in place."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    host_resolv = _read_text(Path("/etc/resolv.conf"))
    if host:
        hosts = _read_text(Path("/etc/hosts"))
    else:
        extra = [*linked, *(host_config.get("ExtraHosts") or ())]
        if host_gateway is not None:
            extra = [_with_gateway(e, host_gateway) for e in extra]
        hosts = hosts_file(hostname, address, extra)
    texts = {
        "hosts": hosts,
        "hostname": hostname_file(hostname),
        "resolv.conf": resolv_conf(
            host_resolv,
            host_config.get("Dns") or (),
            host_config.get("DnsSearch") or (),
            host_config.get("DnsOptions") or (),
            embedded=nameserver,
        ),
    }
    for name, text in texts.items():
        (directory / name).write_text(text)
    return [bind_mount(source, into) for into, source in etc_files(directory).items()]


def _with_gateway(entry: str, gateway: str) -> str:
    name, _, address = entry.rpartition(":") if "=" not in entry else entry.rpartition("=")
    return f"{name}={gateway}" if address == HOST_GATEWAY else entry


def as_tuple(port: PublishedPort) -> tuple[int, str, str, int]:
    return (port.container_port, port.protocol, port.host_ip, port.host_port)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
