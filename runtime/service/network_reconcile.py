"""After an engine restart: what the log says of containers' networks, made true again.

A mixin of `ContainerNetworks`, apart so that each file stays readable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.adapters.network import Endpoint
from berth.domain.cause import Actor, Cause
from berth.domain.container import LIVE_STATES as LIVE
from berth.domain.container import Container, ContainerState
from berth.domain.errors import BerthError
from berth.domain.firewall_rules import chain_name
from berth.domain.network import Network
from berth.domain.network_endpoint import link_local_addresses
from berth.domain.published_ports import PublishedPort

from .network_base import NetworksBase
from .network_files import (
    default_bridge_name,
    endpoint_names,
)

log = logging.getLogger(__name__)


class NetworksReconcile(NetworksBase):
    if TYPE_CHECKING:

        async def disconnect(self, container_id: str, actor: Actor) -> None: ...

        async def _attach_live(
            self, container: Container, network: Network, config: dict[str, Any], cause: Cause
        ) -> None: ...

        async def _start_forwarder(
            self,
            container: Container,
            address: str,
            directory: Path,
            wanted: list[PublishedPort],
        ) -> list[PublishedPort]: ...

    # Reconcile ----------------------------------------------------------------------------

    async def reconcile(self, actor: Actor) -> None:
        """After an engine restart: tear down what belongs to no live container, restore
        what a running container is missing (its links, its port forwarder), make the
        bridges of the networks that exist and remove those of networks removed."""
        await self.user.reconcile()
        await self.sync_firewall()
        network: Network | None = await self._sync(self._find_network, "bridge")
        if network is None:
            return
        self._cached = network
        await self.default_network()
        bridge = self.bridge_name(network)
        networks: list[Network] = await self._sync(self.user.networks)
        keep_netns: set[str] = set()
        keep_veths: set[str] = set()
        keep_forwarders: set[str] = set()
        holders = sorted({c for n in networks for c in n.allocations})
        for container_id in holders:
            container: Container = await self._sync(self.engine.get_aggregate, container_id)
            endpoint = container.endpoint
            if container.state in LIVE and endpoint is not None:
                keep_netns.add(str(endpoint["Netns"]))
                keep_forwarders.add(container_id)
                keep_veths.update(await self._restore(container, networks, endpoint))
                keep_veths.update(await self._finish_connects(container, networks, actor))
            elif container.state is ContainerState.STARTING:
                # A start in flight (maybe another berth process's): leave it be.
                netns, veth = endpoint_names(bridge, container_id[:12])
                keep_netns.add(netns)
                keep_veths.add(veth)
                keep_veths.update(self._veths_of(container_id, networks))
                keep_forwarders.add(container_id)
            else:
                await self.disconnect(container_id, actor)
        prefix = f"{bridge}-"
        for netns in await self.links.namespaces(prefix):
            if netns not in keep_netns:
                await self.links.detach(*endpoint_names(bridge, netns.removeprefix(prefix)))
        for veth in await self.links.bridge_ports(bridge):
            if veth not in keep_veths and veth.startswith("vb"):
                await self.links.detach(*endpoint_names(bridge, veth.removeprefix("vb")))
        for other in networks:
            if other.id == network.id:
                continue
            for veth in await self.links.bridge_ports(self.bridge_for(other)):
                if veth not in keep_veths and veth.startswith(("vb", "vn")):
                    await self.links.detach_interface(veth)
        containers_dir = self.container_dir("x").parent
        for pidfile, pid in self.forwarders.running(containers_dir).items():
            if pidfile.parent.name not in keep_forwarders:
                await self.forwarders.stop(pidfile, pid=pid)

    async def _finish_connects(
        self, container: Container, networks: list[Network], actor: Actor
    ) -> set[str]:
        """A `network connect` of this running container that an engine's death cut short
        (joined, maybe allocated, not attached) is carried out; the veths it made."""
        recorded = (container.endpoint or {}).get("Networks") or {}
        if not recorded:
            return set()
        cause = self.engine.cause(actor)
        veths: set[str] = set()
        for network in networks:
            cid = container.id
            if cid not in network.members or cid in network.attached or network.name in recorded:
                continue
            try:
                await self._attach_live(container, network, network.members[cid], cause)
            except BerthError as error:
                log.warning("container %s: connect to %s: %s", cid[:12], network.name,
                            error.message)  # fmt: skip
                continue
            current: Network = await self._sync(self.engine.get_aggregate, network.id)
            if cid in current.attached:
                veths.add(str(current.attached[cid]["HostVeth"]))
        return veths

    async def prune(self, filters: Mapping[str, Sequence[str]], actor: Actor) -> dict[str, Any]:
        """`POST /networks/prune`: this root's unused networks (the answer), and the
        bridges and firewall chains of berth roots that no longer exist (logged)."""
        report = await self.user.prune(filters, actor)
        for bridge, owner in (await self.links.owned_bridges()).items():
            root = Path(owner)
            # A root whose directory is there is alive, whatever its store: a fleet host's
            # log is in PostgreSQL, with no events.db under its root.
            if root == self.engine.root or root.exists():
                continue
            log.info("network prune: bridge %s of %s, a root that is gone", bridge, owner)
            await self.links.remove_bridge(bridge)
            if self.firewall is not None:
                await self.firewall.remove(chain_name(default_bridge_name(root)))
        return report

    async def release_unused(self) -> None:
        """At a clean stop of berthd: the bridges of networks no container is on are
        removed, and the root's firewall rules once no network is in use; the next start
        makes them again (reconcile). Errors are logged: the stop goes on."""
        try:
            networks: list[Network] = await self._sync(lambda: self.user.networks(fresh=False))
            for network in networks:
                if not network.allocations:
                    await self.links.remove_bridge(self.bridge_for(network))
            if self.firewall is not None and not any(n.allocations for n in networks):
                await self.firewall.remove(chain_name(self.settings.bridge))
        except BerthError as error:
            log.warning("releasing the networks' bridges: %s", error.message)

    @staticmethod
    def _veths_of(container_id: str, networks: list[Network]) -> set[str]:
        return {
            str(n.attached[container_id]["HostVeth"])
            for n in networks
            if container_id in n.attached
        }

    async def _restore(
        self, container: Container, networks: list[Network], endpoint: dict[str, Any]
    ) -> set[str]:
        """Every endpoint of a running container set up again; their host veths."""
        by_name = {n.name: n for n in networks}
        recorded = dict(endpoint.get("Networks") or {})
        if not recorded:  # recorded before containers had several networks
            primary = str(endpoint.get("name") or "bridge")
            recorded = {primary: {**endpoint, "Interface": "eth0"}}
        for network in networks:
            if container.id in network.attached:
                recorded[network.name] = network.attached[container.id]
        veths: set[str] = set()
        for name, one in recorded.items():
            on = by_name.get(name)
            if on is None or container.id not in on.allocations:
                continue
            interface = str(one.get("Interface") or "eth0")
            await self.links.attach(
                Endpoint(
                    netns=str(endpoint["Netns"]),
                    bridge=await self.ensure_bridge_of(on),
                    host_veth=str(one["HostVeth"]),
                    address=str(one["IPAddress"]),
                    prefix_len=int(one["IPPrefixLen"]),
                    gateway=str(one["Gateway"]),
                    mac=str(one["MacAddress"]),
                    interface=interface,
                    default_route=interface == "eth0" and not on.internal,
                    address6=str(one.get("GlobalIPv6Address") or ""),
                    prefix6_len=int(one.get("GlobalIPv6PrefixLen") or 0),
                    gateway6=str(one.get("IPv6Gateway") or ""),
                    link_local=tuple(link_local_addresses(one)),
                )
            )
            veths.add(str(one["HostVeth"]))
        try:
            await self.restore_forwarder(container)
        except BerthError as error:
            log.warning("container %s: %s", container.id[:12], error.message)
        return veths

    async def restore_forwarder(self, container: Container) -> None:
        """Start the recorded port forwarder of a running container if it is not running."""
        endpoint = container.endpoint
        if endpoint is None:
            return
        forwards = [PublishedPort(*f) for f in endpoint.get("Forwards") or []]
        directory = self.container_dir(container.id)
        if forwards and self.forwarders.running_pid(directory / "ports.pid") is None:
            address = str(endpoint["IPAddress"])
            await self._start_forwarder(container, address, directory, forwards)

    async def wait_forwarder_gone(self, container_id: str) -> bool:
        """Until the container's port forwarder exits; False at once if it has none."""
        return await self.forwarders.wait_exited(self.container_dir(container_id) / "ports.pid")
