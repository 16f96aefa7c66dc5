"""Containers' networks: Docker's network modes carried out with the network adapter.

`connect` runs while a container starts, before its OCI spec is written: for `bridge`
it records the address (`AddressAllocated` on the Network), then creates the namespace,
the veth pair and the port forwarder, writes /etc/hosts, /etc/hostname and
/etc/resolv.conf, and records `NetworkConnected` — intent first, outcome last, so a
crash in between leaves an allocation that `reconcile` recognises and releases.
`disconnect` undoes all of it, idempotently, when the process is gone.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from berth.adapters.network import PortForward
from berth.domain.aggregate import StrIdAggregate
from berth.domain.cause import Actor, Cause
from berth.domain.container import LIVE_STATES as LIVE
from berth.domain.container import Container, container_hostname
from berth.domain.errors import BerthError, Conflict
from berth.domain.network import Network
from berth.domain.network_names import name_server_of
from berth.domain.published_ports import PublishedPort, port_map, requested_forwards

from .faults import crash_point
from .network_attach import NetworksAttach
from .network_base import PORT_ERROR_PREFIX
from .network_files import (
    FILES,
    Attachment,
    as_tuple,
    bind_mount,
    endpoint_id_of,
    endpoint_names,
    etc_files,
    network_id_of,
    write_files,
)
from .network_links import links_of

log = logging.getLogger(__name__)


class ContainerNetworks(NetworksAttach):
    # Connect ----------------------------------------------------------------------------

    async def connect(self, container: Container, actor: Actor) -> Attachment:
        """Set up the container's network for its mode; `disconnect` undoes a failure."""
        mode = str(container.host_config.get("NetworkMode") or "bridge")
        hostname = container_hostname(container.config.get("Hostname"), container.id)
        directory = self.container_dir(container.id)
        if mode.startswith("container:"):
            return await self._join(mode.partition(":")[2])
        if mode == "host":
            host_name = socket.gethostname()
            mounts = await self._sync(
                lambda: write_files(directory, host_name, None, container.host_config, host=True)
            )
            return Attachment(netns_path=None, hostname=host_name, mounts=mounts)
        if mode != "none":
            await self.default_network()  # made on first use; the plan may name it
            plan = await self._sync(self._plan, container)
            if plan:
                return await self._connect_networks(container, plan, hostname, directory, actor)
        mounts = await self._sync(
            lambda: write_files(directory, hostname, None, container.host_config)
        )
        return Attachment(mounts=mounts)

    async def _connect_networks(
        self,
        container: Container,
        plan: list[tuple[Network, dict[str, Any]]],
        hostname: str,
        directory: Path,
        actor: Actor,
    ) -> Attachment:
        networks, netns_path = await self._attach_planned(container, plan, actor)
        crash_point("start.network_attached")
        first = networks[plan[0][0].name]
        address = str(first["IPAddress"])
        published = await self._publish(container, address, directory)
        crash_point("start.ports_published")
        env, linked = await self._sync(links_of, self.engine, container)
        nameserver = name_server_of(networks)
        mounts = await self._sync(
            lambda: write_files(
                directory, hostname, address, container.host_config, linked=linked,
                host_gateway=self._host_gateway(), nameserver=nameserver,
            )
        )  # fmt: skip
        document = {
            "EndpointID": first["EndpointID"],
            "Gateway": first["Gateway"],
            "IPAddress": address,
            "IPPrefixLen": first["IPPrefixLen"],
            "MacAddress": first["MacAddress"],
            "SandboxKey": netns_path,
            "Ports": port_map(container.config.get("ExposedPorts") or [], published),
            "Netns": netns_path.rsplit("/", 1)[-1],
            "HostVeth": first["HostVeth"],
            "Forwards": [list(as_tuple(p)) for p in published],
            "Networks": networks,
            **{k: str(directory / f) for k, f in FILES.items()},
        }
        network = plan[0][0]
        # Not projected on its own: `Started` (or `StartFailed`) follows in milliseconds.
        await self._record(
            container.id,
            lambda c, k: c.mark_network_connected(network.id, network.name, document, k),
            actor,
            project=False,
        )
        crash_point("start.network_recorded")
        return Attachment(netns_path=netns_path, hostname=hostname, mounts=mounts, env=env)

    def _host_gateway(self) -> str | None:
        """`--add-host NAME:host-gateway`: the default bridge's gateway, as dockerd's."""
        bridge = self._current_network()
        return None if bridge is None else bridge.gateway

    async def _publish(
        self, container: Container, address: str, directory: Path
    ) -> list[PublishedPort]:
        wanted = requested_forwards(
            list(container.config.get("ExposedPorts") or []),
            container.host_config.get("PortBindings"),
            bool(container.host_config.get("PublishAllPorts")),
        )
        if not wanted:
            return []
        return await self._start_forwarder(container, address, directory, wanted)

    async def _start_forwarder(
        self, container: Container, address: str, directory: Path, wanted: list[PublishedPort]
    ) -> list[PublishedPort]:
        forwards = [
            PortForward(p.protocol, p.host_ip, p.host_port, address, p.container_port)
            for p in wanted
        ]
        try:
            _, bound = await self.forwarders.start(directory / "ports.pid", forwards)
        except BerthError as error:
            name = container.name.lstrip("/")
            endpoint = endpoint_id_of(network_id_of("bridge", self.engine.host_id), container.id)
            raise BerthError(f"{PORT_ERROR_PREFIX} {name} ({endpoint}): {error.message}") from None
        return [PublishedPort(f.container_port, f.protocol, f.host_ip, f.host_port) for f in bound]

    async def _join(self, ref: str) -> Attachment:
        """`container:NAME`: the namespace (and the files) of another running container."""
        other_id: str = await self._sync(self.engine.resolve_container, ref)
        other: Container = await self._sync(self.engine.get_aggregate, other_id)
        if other.state not in LIVE:
            raise Conflict(f"cannot join network of a non running container: {other_id}")
        endpoint = other.endpoint
        netns_path = str(endpoint["SandboxKey"]) if endpoint else f"/proc/{other.pid}/ns/net"
        directory = self.container_dir(other_id)
        mounts = [
            bind_mount(source, into)
            for into, source in etc_files(directory).items()
            if source.exists()
        ]
        hostname = container_hostname(other.config.get("Hostname"), other_id)
        return Attachment(netns_path=netns_path, hostname=hostname, mounts=mounts)

    # Disconnect -------------------------------------------------------------------------

    async def disconnect(
        self,
        container_id: str,
        actor: Actor,
        *,
        also: Callable[[Container, Cause], Sequence[StrIdAggregate] | None] | None = None,
    ) -> None:
        """Tear down the container's forwarder, links and namespace; release its address.

        `also` is an outcome recorded in the same transaction — the exit that made the
        network pointless — so that an exit costs one write, not two. It is recorded
        even if the teardown fails (reconcile removes what is left); its NotModified
        (someone recorded it first) comes through, and then nothing is recorded.
        """
        container: Container = await self._sync(self.engine.get_aggregate, container_id)
        try:
            torn_down = await self._tear_down(container)
        except BerthError as error:
            if also is None:
                raise
            log.warning("container %s: network teardown: %s", container_id[:12], error.message)
            torn_down = True
        if not torn_down and also is None:
            return
        changed: list[Network] = []

        def decide(c: Container, k: Cause) -> list[StrIdAggregate]:
            """The outcome (and what else it changed), `NetworkDisconnected` and
            `AddressReleased`, in one transaction."""
            others = list((also(c, k) if also is not None else None) or ())
            if c.endpoint is not None:
                c.mark_network_disconnected(k)
            changed[:] = [n for n in self._release_all(c.id, k) if isinstance(n, Network)]
            return [*others, *changed]

        async with self._allocation_lock:
            await self._sync(self.engine.record, container_id, decide, actor)
            for network in changed:
                if network.id == network_id_of("bridge", self.engine.host_id):
                    self._cached = network

    async def _tear_down(self, container: Container) -> bool:
        """Stop the forwarder, remove the links; whether there is an address to release."""
        endpoint = container.endpoint
        await self.forwarders.stop(self.container_dir(container.id) / "ports.pid")
        if endpoint is not None:
            # The container's processes are gone: the kernel may drop the veth pair in
            # the background once the namespace is unmounted (ADR/0012), which saves the
            # 15-30 ms a synchronous delete costs. Reconcile catches a pair left over.
            await self.links.detach(str(endpoint["Netns"]), str(endpoint["HostVeth"]), wait=False)
            return True
        if await self._sync(self.holds_address, container.id):
            # Allocated, then the engine stopped before the endpoint was recorded.
            bridge = await self._bridge_of_record()
            await self.links.detach(*endpoint_names(bridge, container.id[:12]))
            return True
        return False

    def holds_address(self, container_id: str) -> bool:
        """Whether a network has an address allocated to this container."""
        return bool(self._holding(container_id))

    async def _bridge_of_record(self) -> str:
        network: Network | None = await self._sync(self._find_network, "bridge")
        return self.bridge_name(network) if network else self.settings.bridge
