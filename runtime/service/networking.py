"""Containers' networks: Docker's network modes carried out with the network adapter.

`connect` runs while a container starts, before its OCI spec is written: for `bridge`
it records the address (`AddressAllocated` on the Network), then creates the namespace,
the veth pair and the port forwarder, writes /etc/hosts, /etc/hostname and
/etc/resolv.conf, and records `NetworkConnected` — intent first, outcome last, so a
crash in between leaves an allocation that `reconcile` recognises and releases.
`disconnect` undoes all of it, idempotently, when the process is gone.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from berth.adapters.network import Endpoint, Forwarders, Links, PortForward
from berth.domain.aggregate import StrIdAggregate
from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.container import LIVE_STATES as LIVE
from berth.domain.container import Container, ContainerState, container_hostname
from berth.domain.errors import BerthError, Conflict, NotFound, NotModified
from berth.domain.network import Network, choose_bridge_subnet, mac_address
from berth.domain.published_ports import PublishedPort, port_map, requested_forwards

from ..store.unit_of_work import unit_of_work
from .engine import Engine
from .faults import crash_point
from .network_files import (
    DEFAULT_BRIDGE,
    FILES,
    Attachment,
    BridgeSettings,
    as_tuple,
    bind_mount,
    endpoint_id_of,
    endpoint_names,
    network_id_of,
    write_files,
)

log = logging.getLogger(__name__)
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
PORT_ERROR_PREFIX = "driver failed programming external connectivity on endpoint"


class ContainerNetworks:
    def __init__(
        self,
        engine: Engine,
        links: Links,
        forwarders: Forwarders,
        settings: BridgeSettings | None = None,
        *,
        container_dir: Callable[[str], Path],
    ) -> None:
        self.engine = engine
        self.links = links
        self.forwarders = forwarders
        self.settings = settings or BridgeSettings()
        self.container_dir = container_dir
        self._bridge_ready: str | None = None
        self._cached: Network | None = None
        self._bridge_lock = trio.Lock()
        # Concurrent starts in one process take turns on the network's stream instead of
        # retrying against each other; other processes are kept out by the version check.
        self._allocation_lock = trio.Lock()

    async def _sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    # The default bridge network ---------------------------------------------------------

    async def default_network(self) -> Network:
        """The `bridge` network, created on first use, and its bridge link up."""
        async with self._bridge_lock:
            network: Network | None = await self._sync(self._current_network)
            if network is None:
                routes = await self.links.host_routes()
                subnet, gateway = choose_bridge_subnet(self.settings.bip, routes)
                network = await self._sync(self._create_network, subnet, gateway)
            bridge = self.bridge_name(network)
            if self._bridge_ready != bridge:
                await self.links.ensure_bridge(bridge, network.gateway, network.prefix_length)
                self._bridge_ready = bridge
            return network

    @staticmethod
    def bridge_name(network: Network) -> str:
        return str(network.options.get(BRIDGE_NAME_OPTION) or DEFAULT_BRIDGE)

    def _current_network(self) -> Network | None:
        """The bridge network as this process last loaded or saved it.

        Loading it replays up to a snapshot interval of allocations, several ms per
        start and exit; a copy another process has made stale fails its save on the
        version check and is loaded again, so only decisions that are saved use it.
        """
        if self._cached is None:
            self._cached = self._find_network("bridge")
        return self._cached

    def _find_network(self, name: str) -> Network | None:
        try:
            network: Network = self.engine.get_aggregate(network_id_of(name))
        except AggregateNotFoundError:
            return None
        return None if network.removed else network

    def _create_network(self, subnet: str, gateway: str) -> Network:
        network = Network.create(
            id=network_id_of("bridge"),
            name="bridge",
            subnet=subnet,
            gateway=gateway,
            options={BRIDGE_NAME_OPTION: self.settings.bridge},
            cause=self.engine.cause(Actor(ActorKind.ENGINE)),
        )
        try:
            self.engine.save(network)
        except IntegrityError:  # another berth process created it first
            found = self._find_network("bridge")
            assert found is not None
            return found
        return network

    def _change_network(self, change: Callable[[Network], Any]) -> Any:
        """Load the bridge network, change it, save (`unit_of_work`)."""
        decided: list[tuple[Network, Any]] = []

        def decide() -> list[Network]:
            network = self._cached or self.engine.get_aggregate(network_id_of("bridge"))
            self._cached = None  # until saved: a failed change or save leaves it unusable
            decided[:] = [(network, change(network))]
            return [network]

        unit_of_work(decide, self.engine.save, "the bridge network")
        self._cached, result = decided[0]
        return result

    # Connect ----------------------------------------------------------------------------

    async def connect(self, container: Container, actor: Actor) -> Attachment:
        """Set up the container's network for its mode; `disconnect` undoes a failure."""
        mode = str(container.host_config.get("NetworkMode") or "bridge")
        hostname = container_hostname(container.config.get("Hostname"), container.id)
        directory = self.container_dir(container.id)
        if mode in ("bridge", "default"):
            return await self._connect_bridge(container, hostname, directory, actor)
        if mode.startswith("container:"):
            return await self._join(mode.partition(":")[2])
        if mode == "host":
            host_name = socket.gethostname()
            mounts = await self._sync(
                lambda: write_files(directory, host_name, None, container.host_config, host=True)
            )
            return Attachment(netns_path=None, hostname=host_name, mounts=mounts)
        if mode != "none":
            raise NotFound(f"network {mode} not found")
        mounts = await self._sync(
            lambda: write_files(directory, hostname, None, container.host_config)
        )
        return Attachment(mounts=mounts)

    async def _connect_bridge(
        self, container: Container, hostname: str, directory: Path, actor: Actor
    ) -> Attachment:
        network = await self.default_network()
        cause = self.engine.cause(actor)
        async with self._allocation_lock:
            address: str = await self._sync(
                self._change_network, lambda n: n.allocate(container.id, cause)
            )
        crash_point("start.network_allocated")
        bridge = self.bridge_name(network)
        netns, host_veth = endpoint_names(bridge, container.id[:12])
        endpoint = Endpoint(
            netns=netns,
            bridge=bridge,
            host_veth=host_veth,
            address=address,
            prefix_len=network.prefix_length,
            gateway=network.gateway,
            mac=mac_address(address),
        )
        netns_path = await self.links.attach(endpoint)
        crash_point("start.network_attached")
        published = await self._publish(container, address, directory)
        crash_point("start.ports_published")
        mounts = await self._sync(
            lambda: write_files(directory, hostname, address, container.host_config)
        )
        document = {
            "EndpointID": endpoint_id_of(network.id, container.id),
            "Gateway": network.gateway,
            "IPAddress": address,
            "IPPrefixLen": network.prefix_length,
            "MacAddress": endpoint.mac,
            "SandboxKey": netns_path,
            "Ports": port_map(container.config.get("ExposedPorts") or [], published),
            "Netns": endpoint.netns,
            "HostVeth": endpoint.host_veth,
            "Forwards": [list(as_tuple(p)) for p in published],
            **{k: str(directory / f) for k, f in FILES.items()},
        }
        # Not projected on its own: `Started` (or `StartFailed`) follows in milliseconds.
        await self._record(
            container.id,
            lambda c, k: c.mark_network_connected(network.id, network.name, document, k),
            actor,
            project=False,
        )
        crash_point("start.network_recorded")
        return Attachment(netns_path=netns_path, hostname=hostname, mounts=mounts)

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
            endpoint = endpoint_id_of(network_id_of("bridge"), container.id)
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
            bind_mount(directory / name, f"/etc/{name}")
            for name in FILES.values()
            if (directory / name).exists()
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
            network = self._cached or self._find_network("bridge")
            self._cached = None  # until saved
            changed[:] = []
            if network is None or not network.release(c.id, k):
                return others
            changed.append(network)
            return [*others, *changed]

        async with self._allocation_lock:
            await self._sync(self.engine.record, container_id, decide, actor)
            if changed:
                self._cached = changed[0]

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
        if await self._sync(self._find_bridge_allocation, container.id) is not None:
            # Allocated, then the engine stopped before the endpoint was recorded.
            bridge = await self._bridge_of_record()
            await self.links.detach(*endpoint_names(bridge, container.id[:12]))
            return True
        return False

    def holds_address(self, container_id: str) -> bool:
        """Whether the bridge network has an address allocated to this container."""
        return self._find_bridge_allocation(container_id) is not None

    def _find_bridge_allocation(self, container_id: str) -> str | None:
        network = self._current_network()
        return None if network is None else network.address_of(container_id)

    async def _bridge_of_record(self) -> str:
        network: Network | None = await self._sync(self._find_network, "bridge")
        return self.bridge_name(network) if network else self.settings.bridge

    # Reconcile ----------------------------------------------------------------------------

    async def reconcile(self, actor: Actor) -> None:
        """After an engine restart: tear down what belongs to no live container, restore
        what a running container is missing (its links, its port forwarder)."""
        network: Network | None = await self._sync(self._find_network, "bridge")
        if network is None:
            return
        self._cached = network
        await self.default_network()
        bridge = self.bridge_name(network)
        keep_netns: set[str] = set()
        keep_veths: set[str] = set()
        keep_forwarders: set[str] = set()
        for container_id in list(network.allocations):
            container: Container = await self._sync(self.engine.get_aggregate, container_id)
            endpoint = container.endpoint
            if container.state in LIVE and endpoint is not None:
                keep_netns.add(str(endpoint["Netns"]))
                keep_veths.add(str(endpoint["HostVeth"]))
                keep_forwarders.add(container_id)
                await self._restore(container, network, endpoint)
            elif container.state is ContainerState.STARTING:
                # A start in flight (maybe another berth process's): leave it be.
                netns, veth = endpoint_names(bridge, container_id[:12])
                keep_netns.add(netns)
                keep_veths.add(veth)
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
        containers_dir = self.container_dir("x").parent
        for pidfile, pid in self.forwarders.running(containers_dir).items():
            if pidfile.parent.name not in keep_forwarders:
                await self.forwarders.stop(pidfile, pid=pid)

    async def _restore(
        self, container: Container, network: Network, endpoint: dict[str, Any]
    ) -> None:
        await self.links.attach(
            Endpoint(
                netns=str(endpoint["Netns"]),
                bridge=self.bridge_name(network),
                host_veth=str(endpoint["HostVeth"]),
                address=str(endpoint["IPAddress"]),
                prefix_len=int(endpoint["IPPrefixLen"]),
                gateway=str(endpoint["Gateway"]),
                mac=str(endpoint["MacAddress"]),
            )
        )
        try:
            await self.restore_forwarder(container)
        except BerthError as error:
            log.warning("container %s: %s", container.id[:12], error.message)

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

    # Plumbing ----------------------------------------------------------------------------

    async def _record(
        self,
        container_id: str,
        outcome: Callable[[Container, Any], None],
        actor: Actor,
        *,
        project: bool = True,
    ) -> None:
        with contextlib.suppress(NotModified):
            await self._sync(self.engine.record, container_id, outcome, actor, project)
