"""Legacy links (`--link NAME:ALIAS`) of a container on the default bridge, at its start:
the variables and /etc/hosts names each running child gives it (domain/links.py), and
`DELETE /containers/<parent>/<alias>?link=1`, recorded on the default bridge network
(links are a feature of that network in dockerd too)."""

from __future__ import annotations

from typing import Any

from berth.domain.cause import Actor
from berth.domain.container import LIVE_STATES as LIVE
from berth.domain.container import Container, container_hostname
from berth.domain.errors import BerthError, NotFound
from berth.domain.links import link_env, link_host, parse_link
from berth.domain.network import Network

from .engine import Engine
from .network_files import network_id_of


def links_of(engine: Engine, container: Container) -> tuple[list[str], list[str]]:
    """(environment, extra hosts as `names=ip`) the container's links give it."""
    entries = list(container.host_config.get("Links") or ())
    if not entries or not on_default_bridge(container):
        # On a user-defined network a link is a name only its container resolves, given
        # by berth's name server (domain/network_names.py), as dockerd gives it.
        return [], []
    bridge: Network | None = engine.find_aggregate(network_id_of("bridge", engine.host_id))
    removed = set(bridge.unlinked.get(container.id, [])) if bridge is not None else set()
    parent = container.name.lstrip("/")
    env: list[str] = []
    hosts: list[str] = []
    for entry in entries:
        name, alias = parse_link(entry)
        if alias in removed:
            continue
        child: Container = engine.get_aggregate(engine.resolve_container(name))
        link_name = f"/{parent}/{alias}"
        child_name = child.name.lstrip("/")
        if child.state not in LIVE:
            raise BerthError(
                f"Cannot link to a non running container: /{child_name} AS {link_name}"
            )
        address = _bridge_address(child)
        if address is None:
            raise BerthError(f"container {child.id} not attached to default bridge network")
        exposed = list(child.config.get("ExposedPorts") or [])
        env += link_env(link_name, address, child.config.get("Env") or [], exposed)
        hostname = container_hostname(child.config.get("Hostname"), child.id)
        hosts.append(f"{link_host(alias, hostname, child_name)}={address}")
    return env, hosts


def on_default_bridge(container: Container) -> bool:
    return str(container.host_config.get("NetworkMode") or "bridge") in ("bridge", "default")


def _bridge_address(child: Container) -> str | None:
    endpoint: dict[str, Any] = child.endpoint or {}
    recorded = (endpoint.get("Networks") or {}).get("bridge")
    if recorded:
        return str(recorded["IPAddress"])
    if endpoint.get("name") == "bridge":  # recorded before containers had several networks
        return str(endpoint["IPAddress"])
    return None


def remove_link(engine: Engine, parent_ref: str, alias: str, actor: Actor) -> None:
    """dockerd's rmLink: the parent's link `alias` is gone (404 if it has none)."""
    parent: Container = engine.get_aggregate(engine.resolve_container(parent_ref))
    aliases = {parse_link(e)[1] for e in parent.host_config.get("Links") or ()}
    if alias not in aliases:
        raise NotFound(f"No such container: {parent_ref}/{alias}")
    cause = engine.cause(actor)
    bridge: Network | None = engine.find_aggregate(network_id_of("bridge", engine.host_id))
    if bridge is None:
        raise NotFound(f"No such container: {parent_ref}/{alias}")
    bridge.remove_link(parent.id, alias, cause)
    engine.save(bridge)
