"""The base of `ContainerNetworks`: its adapters, and the default `bridge` network.

The default bridge network is made on first use (its subnet chosen from Docker's pools
to collide with no host route), loaded once and kept by this process; every change is
a unit of work on its own stream.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from berth.adapters.network import Firewall, Forwarders, Links
from berth.adapters.network.address_pools import address_pools_held
from berth.domain.cause import Actor, ActorKind
from berth.domain.container import Container
from berth.domain.errors import NotModified
from berth.domain.firewall_rules import FirewallNetwork, chain_name, ruleset
from berth.domain.network import Network
from berth.domain.network_pools import choose_bridge_subnet
from berth.domain.network_request import ICC_OPTION, MASQUERADE_OPTION, bridge_flag

from ..store.unit_of_work import unit_of_work
from .engine import Engine
from .network_files import (
    DEFAULT_BRIDGE,
    BridgeSettings,
    network_id_of,
)
from .user_networks import NetworkService

log = logging.getLogger(__name__)
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
PORT_ERROR_PREFIX = "driver failed programming external connectivity on endpoint"


class NetworksBase:
    def __init__(
        self,
        engine: Engine,
        links: Links,
        forwarders: Forwarders,
        settings: BridgeSettings | None = None,
        *,
        container_dir: Callable[[str], Path],
        firewall: Firewall | None = None,
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
        # None: no packet filter rules at all (the service's tests on fakes).
        self.firewall = firewall
        self.user = NetworkService(engine, links, self.settings.bridge, self.sync_firewall)
        self.owner = str(engine.root)  # kept with each bridge: whose it is (network prune)
        self._bridges_ready: set[str] = set()

    async def _sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    # The default bridge network ---------------------------------------------------------

    async def default_network(self) -> Network:
        """The `bridge` network, created on first use, and its bridge link up."""
        async with self._bridge_lock:
            network: Network | None = await self._sync(self._current_network)
            if network is not None and self._bridge_ready == self.bridge_name(network):
                return network
            # Held from reading the routes to the bridge's address (address_pools.py).
            async with address_pools_held():
                if network is None:
                    routes = await self.links.host_routes()
                    subnet, gateway = choose_bridge_subnet(self.settings.bip, routes)
                    network = await self._sync(self._create_network, subnet, gateway)
                bridge = self.bridge_name(network)
                await self.links.ensure_bridge(
                    bridge, network.gateway, network.prefix_length, owner=self.owner
                )
            await self.sync_firewall()
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
            network: Network = self.engine.get_aggregate(network_id_of(name, self.engine.host_id))
        except AggregateNotFoundError:
            return None
        return None if network.removed else network

    def _create_network(self, subnet: str, gateway: str) -> Network:
        network = Network.create(
            id=network_id_of("bridge", self.engine.host_id),
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

    def _change_network(self, change: Callable[[Network], Any], network_id: str = "") -> Any:
        """Load a network (the bridge network by default), change it, save
        (`unit_of_work`)."""
        bridge_id = network_id_of("bridge", self.engine.host_id)
        wanted = network_id or bridge_id
        decided: list[tuple[Network, Any]] = []

        def decide() -> list[Network]:
            cached = self._cached if wanted == bridge_id else None
            network = cached or self.engine.get_aggregate(wanted)
            if wanted == bridge_id:
                self._cached = None  # until saved: a failed change or save leaves it unusable
            decided[:] = [(network, change(network))]
            return [network]

        unit_of_work(decide, self.engine.save, f"the network {wanted[:12]}")
        network, result = decided[0]
        if wanted == bridge_id:
            self._cached = network
        return result

    # Any network -------------------------------------------------------------------------

    async def sync_firewall(self) -> None:
        """The root's packet filter rules follow the networks that exist (ADR/0038)."""
        if self.firewall is None:
            return
        networks: list[Network] = await self._sync(self.user.networks)
        chain = chain_name(self.settings.bridge)
        if not networks:
            await self.firewall.remove(chain)
            return
        found = [
            FirewallNetwork(
                self.bridge_for(n),
                n.subnet,
                internal=n.internal,
                masquerade=bridge_flag(n.options, MASQUERADE_OPTION),
                icc=bridge_flag(n.options, ICC_OPTION),
            )
            for n in networks
        ]
        await self.firewall.apply(ruleset(chain, found))

    def bridge_for(self, network: Network) -> str:
        if network.id == network_id_of("bridge", self.engine.host_id):
            return self.bridge_name(network)
        return self.user.bridge_of(network)

    async def ensure_bridge_of(self, network: Network) -> str:
        """The network's bridge is up (made again if a clean shutdown removed it)."""
        if network.id == network_id_of("bridge", self.engine.host_id):
            return self.bridge_name(await self.default_network())
        bridge = self.user.bridge_of(network)
        if bridge not in self._bridges_ready:
            await self.links.ensure_bridge(
                bridge,
                network.gateway,
                network.prefix_length,
                owner=self.owner,
                gateway6=network.gateway6_interface,
            )
            self._bridges_ready.add(bridge)
        return bridge

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
