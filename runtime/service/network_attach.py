"""A container on several networks: which networks a start attaches (its NetworkMode's,
unless it left it, and every network it joined with `network connect`), one veth pair
per network in the container's one namespace (eth0, eth1...), and `network connect` /
`network disconnect` of a container, running or not.

Intent first, outcome last: a connect records `EndpointJoined` (the container is on the
network from its next start), then, if it runs, `AddressAllocated`, sets up the veth and
records `EndpointAttached`. A disconnect records `EndpointLeft` and `AddressReleased`,
then takes the veth away. The default route goes through the first network that is not
`--internal`; an internal network gives none (dockerd's rule).
"""

from __future__ import annotations

import hashlib
from typing import Any

from berth.adapters.network import Endpoint
from berth.domain.aggregate import StrIdAggregate
from berth.domain.cause import Actor, Cause
from berth.domain.container import LIVE_STATES as LIVE
from berth.domain.container import Container
from berth.domain.errors import Forbidden, InvalidParameter, NotFound, NotModified
from berth.domain.links import parse_link
from berth.domain.network import Network
from berth.domain.network_endpoint import (
    check_endpoint_config,
    link_local_addresses,
    requested_address,
    requested_address6,
)
from berth.domain.network_pools import mac_address

from .faults import crash_point
from .network_files import endpoint_id_of, endpoint_names, network_id_of
from .network_reconcile import NetworksReconcile

#: What inspect shows of an endpoint; the rest of a recorded one is berth's own.
PUBLIC_FIELDS = (
    "IPAMConfig", "Links", "Aliases", "NetworkID", "EndpointID", "Gateway", "IPAddress",
    "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "MacAddress",
    "DriverOpts",
)  # fmt: skip
SHARED_MODES_ERROR = (
    "container sharing network namespace with another container or host cannot be "
    "connected to any other network"
)


def host_veth_name(network_id: str, container_id: str, index: int) -> str:
    """eth0's host end keeps its old name (vb + short id); the others derive from the
    network too, so a reconnect to another network never meets a stale name."""
    if index == 0:
        return f"vb{container_id[:12]}"
    return "vn" + hashlib.sha256(f"{network_id}:{container_id}".encode()).hexdigest()[:12]


def endpoint_config(config: object) -> dict[str, Any]:
    """An EndpointSettings as asked for: only what berth applies of it."""
    if not isinstance(config, dict):
        raise InvalidParameter("EndpointConfig must be an object")
    aliases = config.get("Aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise InvalidParameter("Aliases must be a list of strings")
    ipam = config.get("IPAMConfig") or None
    if ipam is not None and not isinstance(ipam, dict):
        raise InvalidParameter("IPAMConfig must be an object")
    driver_opts = config.get("DriverOpts") or None
    if driver_opts is not None and not (
        isinstance(driver_opts, dict)
        and all(isinstance(v, str) for v in driver_opts.values())
    ):
        raise InvalidParameter("DriverOpts must be an object of strings")
    links = config.get("Links") or []
    if not isinstance(links, list) or not all(isinstance(link, str) for link in links):
        raise InvalidParameter("Links must be a list of strings")
    for link in links:
        parse_link(link)  # the name server resolves them (domain/network_names.py)
    return {
        "Links": list(links) or None,
        "Aliases": list(aliases) or None,
        "IPAMConfig": dict(ipam) if ipam else None,
        "MacAddress": str(config.get("MacAddress") or "").lower(),
        # Kept and shown as dockerd 20.10 keeps them: its bridge driver reads none of an
        # endpoint's options.
        "DriverOpts": dict(driver_opts) if driver_opts else None,
    }


class NetworksAttach(NetworksReconcile):
    def _plan(self, container: Container) -> list[tuple[Network, dict[str, Any]]]:
        """The networks a start attaches, its NetworkMode's first, with what each asks."""
        mode = str(container.host_config.get("NetworkMode") or "bridge")
        asked = dict((container.networking_config or {}).get("EndpointsConfig") or {})
        primary = self.user.find("bridge" if mode == "default" else mode)
        plan: list[tuple[Network, dict[str, Any]]] = []
        if container.id not in primary.departed or container.id in primary.members:
            config = primary.members.get(container.id) or asked.get(mode) or {}
            plan.append((primary, endpoint_config(config)))
        for network in self.user.networks():
            if network.id != primary.id and container.id in network.members:
                plan.append((network, endpoint_config(network.members[container.id])))
        return plan

    async def _attach_network(
        self,
        container: Container,
        network: Network,
        config: dict[str, Any],
        *,
        index: int,
        netns: str,
        default_route: bool,
        cause: Cause,
    ) -> tuple[dict[str, Any], str]:
        """Allocate (recorded) and set up one veth: the endpoint document and netns path."""
        check_endpoint_config(network, config)
        bridge = await self.ensure_bridge_of(network)
        wanted, wanted6 = requested_address(config), requested_address6(config)
        async with self._allocation_lock:

            def allocate(n: Network) -> tuple[str, str]:
                return n.allocate(container.id, cause, wanted, wanted6), n.address6_of(container.id)

            address, address6 = await self._sync(self._change_network, allocate, network.id)
        crash_point("start.network_allocated" if index == 0 else "connect.allocated")
        own_mac = str(container.config.get("MacAddress") or "") if index == 0 else ""
        mac = (config.get("MacAddress") or own_mac or mac_address(address)).lower()
        endpoint = Endpoint(
            netns=netns,
            bridge=bridge,
            host_veth=host_veth_name(network.id, container.id, index),
            address=address,
            prefix_len=network.prefix_length,
            gateway=network.gateway,
            mac=mac,
            interface=f"eth{index}",
            default_route=default_route,
            address6=address6,
            prefix6_len=network.prefix6_length if address6 else 0,
            gateway6=network.gateway6 if address6 else "",
            link_local=tuple(link_local_addresses(config)),
        )
        netns_path = await self.links.attach(endpoint)
        aliases = list(config.get("Aliases") or [])
        if not network.is_default_bridge:
            aliases.append(container.id[:12])  # dockerd adds the short id on user networks
        document = {
            "IPAMConfig": config.get("IPAMConfig"),
            "Links": config.get("Links") or None,
            "Aliases": aliases or None,
            "NetworkID": network.id,
            "EndpointID": endpoint_id_of(network.id, container.id),
            "Gateway": network.gateway,
            "IPAddress": address,
            "IPPrefixLen": network.prefix_length,
            "IPv6Gateway": endpoint.gateway6,
            "GlobalIPv6Address": address6,
            "GlobalIPv6PrefixLen": endpoint.prefix6_len,
            "MacAddress": mac,
            "DriverOpts": config.get("DriverOpts"),
            "HostVeth": endpoint.host_veth,
            "Interface": endpoint.interface,
        }
        return document, netns_path

    async def _attach_planned(
        self, container: Container, plan: list[tuple[Network, dict[str, Any]]], actor: Actor
    ) -> tuple[dict[str, dict[str, Any]], str]:
        """Every planned network attached: the endpoints by network name, the netns path."""
        default = await self.default_network()
        netns, _ = endpoint_names(self.bridge_name(default), container.id[:12])
        routed = next((i for i, (n, _) in enumerate(plan) if not n.internal), None)
        cause = self.engine.cause(actor)
        networks: dict[str, dict[str, Any]] = {}
        netns_path = ""
        for index, (network, config) in enumerate(plan):
            networks[network.name], netns_path = await self._attach_network(
                container,
                network,
                config,
                index=index,
                netns=netns,
                default_route=index == routed,
                cause=cause,
            )
        return networks, netns_path

    # network connect / disconnect ---------------------------------------------------------

    async def connect_container(
        self, network_ref: str, container_ref: str, config: object, actor: Actor
    ) -> None:
        """`POST /networks/{id}/connect`."""
        asked = endpoint_config(config or {})
        network: Network = await self._sync(self.user.find, network_ref)
        container_id: str = await self._sync(self.engine.resolve_container, container_ref)
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        mode = str(container.host_config.get("NetworkMode") or "bridge")
        if mode in ("host", "none") or mode.startswith("container:"):
            raise InvalidParameter(SHARED_MODES_ERROR)
        check_endpoint_config(network, asked)
        name = container.name.lstrip("/")
        primary = network.name == mode or (mode == "default" and network.is_default_bridge)
        if primary and container.id not in network.departed:
            raise Forbidden(f"endpoint with name {name} already exists in network {network.name}")
        cause = self.engine.cause(actor)
        await self._sync(
            self._change_network, lambda n: n.join(container.id, name, asked, cause), network.id
        )
        crash_point("connect.joined")
        live = container.state in LIVE and container.endpoint is not None
        if live:
            await self._attach_live(container, network, asked, cause)

    async def _attach_live(
        self, container: Container, network: Network, config: dict[str, Any], cause: Cause
    ) -> None:
        """A running container's veth on one more network; also what reconcile does for a
        connect an engine's death interrupted (every step is idempotent)."""
        endpoint = container.endpoint or {}
        used = {str(e.get("Interface", "eth0")) for e in (endpoint.get("Networks") or {}).values()}
        for other in await self._sync(self.user.networks):
            if container.id in other.attached:
                used.add(str(other.attached[container.id].get("Interface")))
        index = next(i for i in range(1, 64) if f"eth{i}" not in used)
        document, _ = await self._attach_network(
            container,
            network,
            config,
            index=index,
            netns=str(endpoint["Netns"]),
            default_route=False,
            cause=cause,
        )
        crash_point("connect.attached")
        await self._sync(
            self._change_network,
            lambda n: n.mark_attached(container.id, document, cause),
            network.id,
        )

    async def disconnect_container(
        self, network_ref: str, container_ref: str, force: bool, actor: Actor
    ) -> None:
        """`POST /networks/{id}/disconnect`."""
        network: Network = await self._sync(self.user.find, network_ref)
        try:
            container_id: str = await self._sync(self.engine.resolve_container, container_ref)
        except NotFound:
            if force and container_ref in network.allocations:
                container_id = container_ref
            else:
                raise
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        mode = str(container.host_config.get("NetworkMode") or "bridge")
        if mode == "host":
            raise InvalidParameter(
                "container cannot be disconnected from host network or connected to host network"
            )
        primary = network.name == mode or (mode == "default" and network.is_default_bridge)
        on_it = (
            container.id in network.members
            or container.id in network.allocations
            or (primary and container.id not in network.departed)
        )
        if not on_it:
            raise Forbidden(f"container {container.id} is not connected to network {network.name}")
        veth = self._host_veth_on(container, network)
        cause = self.engine.cause(actor)

        def leave(n: Network) -> None:
            n.release(container.id, cause)
            n.leave(container.id, cause)

        async with self._allocation_lock:
            await self._sync(self._change_network, leave, network.id)
        if veth is not None:
            await self.links.detach_interface(veth)

    def _host_veth_on(self, container: Container, network: Network) -> str | None:
        if container.id in network.attached:
            return str(network.attached[container.id]["HostVeth"])
        recorded = ((container.endpoint or {}).get("Networks") or {}).get(network.name)
        if recorded and container.id in network.allocations:
            return str(recorded["HostVeth"])
        return None

    # Releasing every address at an exit ---------------------------------------------------

    def _holding(self, container_id: str) -> list[Network]:
        """The networks on which the container holds an address, the bridge's cached copy
        first (see `_current_network`)."""
        bridge = self._current_network()
        found = [bridge] if bridge is not None and container_id in bridge.allocations else []
        bridge_id = network_id_of("bridge", self.engine.host_id)
        for network in self.user.networks():
            if network.id != bridge_id and container_id in network.allocations:
                found.append(network)
        return found

    def _release_all(self, container_id: str, cause: Cause) -> list[StrIdAggregate]:
        changed: list[StrIdAggregate] = []
        for network in self._holding(container_id):
            if network.id == network_id_of("bridge", self.engine.host_id):
                self._cached = None  # until saved
            try:
                if network.release(container_id, cause):
                    changed.append(network)
            except NotModified:
                continue
        return changed


def public_endpoint(endpoint: dict[str, Any]) -> dict[str, Any]:
    return {key: endpoint.get(key) for key in PUBLIC_FIELDS}
