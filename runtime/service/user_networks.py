"""User-defined networks: `/networks` create, inspect, list, remove and prune in dockerd
20.10's shapes and statuses, and the bridge each network owns.

Intent before outcome: `Created` (or `Recreated`) is saved, then the bridge is made;
`Removed` is saved, then the bridge goes. `reconcile` (at every start of the engine)
makes the bridge of every network that exists and removes the bridges of those that
do not, so an engine killed between the two leaves nothing half-made.

What other modules may rely on (kept stable):
- `NetworkService.find(ref) -> Network`: by name, full id, or unique id prefix; 404
  "network X not found"; the built-in `bridge` too (`host`/`none` are not aggregates).
- `NetworkService.networks() -> list[Network]`: every network that exists.
- `NetworkService.bridge_of(network) -> str`: the host bridge of a network.
- `Network.members` / `Network.allocations` / `Network.departed` (domain/network.py):
  who is on a network from its next start, who holds an address now.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import trio
from eventsourcing.application import AggregateNotFoundError

from berth.adapters.network import Links
from berth.adapters.network.address_pools import address_pools_held
from berth.domain.aggregate import StrIdAggregate
from berth.domain.cause import Actor
from berth.domain.container import Container
from berth.domain.errors import BerthError, Conflict, Forbidden, InvalidParameter, NotFound
from berth.domain.network import Network, is_network_id
from berth.domain.network_pools import check_no_overlap, choose_pool, mac_address
from berth.domain.network_request import BRIDGE_NAME_OPTION, parse_network_request

from ..store.unit_of_work import unit_of_work
from ..views import networks as view
from ..views.prune_filters import prune_filters
from ..views.timefmt import docker_time
from .engine import Engine
from .faults import crash_point
from .network_files import endpoint_id_of, network_id_of, user_bridge_name

log = logging.getLogger(__name__)


class NetworkService:
    def __init__(
        self,
        engine: Engine,
        links: Links,
        root_bridge: str,
        changed: Callable[[], Awaitable[None]],
    ) -> None:
        self.engine = engine
        self.links = links
        self.changed = changed  # told after a network is made or removed (the firewall)
        self.root_bridge = root_bridge  # names this root's bridges apart from other roots'
        self._lock = trio.Lock()  # one create or remove at a time: pools are chosen whole

    async def _sync(self, fn: Any, *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    # Lookups ----------------------------------------------------------------------------

    def networks(self, *, fresh: bool = True) -> list[Network]:
        """Every network that exists; `fresh=False` reads the views as they are (at a
        stop, when a damaged log has been reported already)."""
        if fresh:
            self.engine.catch_up()
        ids = self.engine.views.network_ids()
        bridge_id = network_id_of("bridge", self.engine.host_id)
        found = [n for n in (self._load(i) for i in [bridge_id, *ids]) if n is not None]
        unique = {n.id: n for n in found}
        return sorted(unique.values(), key=lambda n: (n.id != bridge_id, n.name))

    def _load(self, network_id: str) -> Network | None:
        try:
            network = self.engine.get_aggregate(network_id)
        except AggregateNotFoundError:
            return None
        # A user's reference may be any aggregate's id (a container's, a volume's).
        if not isinstance(network, Network) or network.removed:
            return None
        return network

    def find(self, ref: str) -> Network:
        """dockerd's lookup: exact name, then full id, then a unique id prefix."""
        if not ref:
            raise NotFound("network  not found")
        by_name = self._load(network_id_of(ref, self.engine.host_id))
        if by_name is not None:
            return by_name
        if is_network_id(ref):
            by_id = self._load(ref)
            if by_id is not None:
                return by_id
        matches = [n for n in self.networks() if n.id.startswith(ref.lower())]
        if len(matches) > 1:
            raise InvalidParameter(f"network {ref} is ambiguous ({len(matches)} matches found)")
        if not matches:
            raise NotFound(f"network {ref} not found")
        return matches[0]

    def bridge_of(self, network: Network) -> str:
        """A network's bridge: the one its options name, else `br-` and a hash of this
        root's bridge and the network id (two roots' networks of one name differ)."""
        named = network.options.get(BRIDGE_NAME_OPTION)
        return str(named) if named else user_bridge_name(self.root_bridge, network.id)

    # Documents -------------------------------------------------------------------------

    def document(self, network: Network, *, containers: bool = True) -> dict[str, Any]:
        endpoints = self._endpoints(network) if containers else []
        options = {str(k): str(v) for k, v in network.options.items()}
        if network.is_default_bridge:
            options = {"com.docker.network.bridge.default_bridge": "true", **options}
        return view.document(network, docker_time(self._created(network)), endpoints, options)

    def _created(self, network: Network) -> datetime:
        if network.created_at is not None:
            return network.created_at
        return self.engine.store.aggregate_log(network.id, until_version=1)[0].timestamp

    def _endpoints(self, network: Network) -> list[view.Endpoint]:
        found = []
        for container_id, address in network.allocations.items():
            container: Container | None = self.engine.find_aggregate(container_id)
            if container is None:
                continue
            recorded = endpoint_on(container, network.name)
            found.append(
                view.Endpoint(
                    container_id=container_id,
                    name=container.name.lstrip("/"),
                    endpoint_id=endpoint_id_of(network.id, container_id),
                    mac=str(recorded.get("MacAddress") or mac_address(address)),
                    address=address,
                    address6=network.address6_of(container_id),
                )
            )
        return found

    async def inspect(self, ref: str) -> dict[str, Any]:
        if ref in ("host", "none"):
            return view.builtin_document(ref, network_id_of(ref, self.engine.host_id))
        network: Network = await self._sync(self.find, ref)
        found: dict[str, Any] = await self._sync(self.document, network)
        return found

    async def list_documents(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        view.check_filters(filters, view.LIST_FILTERS)

        def listing() -> list[dict[str, Any]]:
            docs = [self.document(n) for n in self.networks()]
            docs += [
                view.builtin_document(name, network_id_of(name, self.engine.host_id))
                for name in ("host", "none")
            ]
            # dockerd lists networks without their containers since API 1.28 (the
            # `dangling` filter still reads them).
            return [{**d, "Containers": {}} for d in docs if view.matches(d, filters)]

        found: list[dict[str, Any]] = await self._sync(listing)
        return found

    # Create, remove, prune ---------------------------------------------------------------

    async def create(self, body: object, actor: Actor) -> dict[str, Any]:
        """`POST /networks/create`: 201 {"Id", "Warning"}; 409 for a name taken."""
        request = parse_network_request(body)
        async with self._lock:
            async with address_pools_held():
                routes = await self.links.host_routes()
                network: Network = await self._sync(self._record_create, request, routes, actor)
                crash_point("network.recorded")
                await self.links.ensure_bridge(
                    self.bridge_of(network),
                    network.gateway,
                    network.prefix_length,
                    owner=str(self.engine.root),
                    gateway6=network.gateway6_interface,
                )
            await self.changed()
        return {"Id": network.id, "Warning": ""}

    def _record_create(
        self, request: Any, routes: list[ipaddress.IPv4Network], actor: Actor
    ) -> Network:
        existing = self.networks()
        taken = [*routes, *(ipaddress.IPv4Network(n.subnet) for n in existing)]
        if request.subnet is not None:
            check_no_overlap(request.subnet, taken)
            subnet, gateway = request.subnet, request.gateway
        else:
            subnet, gateway = choose_pool(taken)
        if request.subnet6:
            taken6 = [ipaddress.IPv6Network(n.subnet6) for n in existing if n.subnet6]
            check_no_overlap(request.subnet6, taken6)
        network_id = network_id_of(request.name, self.engine.host_id)
        cause = self.engine.cause(actor)
        decided: list[Network] = []

        def decide() -> list[StrIdAggregate]:
            existing: Network | None = self.engine.find_aggregate(network_id)
            if existing is None:
                network = Network.define(
                    id=network_id, request=request, subnet=subnet, gateway=gateway, cause=cause
                )
            else:
                network = existing
                network.define_again(request, subnet, gateway, cause)
            decided[:] = [network]
            return [network]

        unit_of_work(decide, lambda *a: self.engine.save(*a, project=True), "the network")
        return decided[0]

    async def remove(self, ref: str, actor: Actor) -> None:
        """`DELETE /networks/{id}`: 403 for a built-in network or one with endpoints."""
        if ref in ("bridge", "host", "none"):
            raise Forbidden(f"{ref} is a pre-defined network and cannot be removed")
        async with self._lock:
            network: Network = await self._sync(self._record_remove, ref, actor)
            await self.links.remove_bridge(self.bridge_of(network))
            await self.changed()

    def _record_remove(self, ref: str, actor: Actor) -> Network:
        cause = self.engine.cause(actor)
        network = self.find(ref)
        if network.is_default_bridge:
            raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")

        def decide() -> list[StrIdAggregate]:
            current: Network = self.engine.get_aggregate(network.id)
            try:
                current.remove(cause)
            except Conflict as error:  # endpoints left: dockerd's 403, in the domain's words
                raise Forbidden(error.message) from None
            return [current]

        unit_of_work(decide, lambda *a: self.engine.save(*a, project=True), "the network")
        return network

    async def prune(self, filters: Mapping[str, Sequence[str]], actor: Actor) -> dict[str, Any]:
        """dockerd's prune: every user network no running container is on."""
        spared = prune_filters(filters, view.PRUNE_FILTERS, self.engine.now())
        deleted: list[str] = []
        for network in await self._sync(self.networks):
            if network.is_default_bridge or network.allocations:
                continue
            created = await self._sync(self._created, network)
            if spared.spares(created, network.labels):
                continue
            try:
                await self.remove(network.id, actor)
            except BerthError as error:  # e.g. a container started on it meanwhile
                log.info("prune: network %s stays: %s", network.name, error.message)
                continue
            deleted.append(network.name)
        return {"NetworksDeleted": deleted or None}

    # After a restart ------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Every network's bridge exists; bridges of networks that are gone are removed."""
        networks = await self._sync(self.networks)
        for network in networks:
            if not network.is_default_bridge:
                await self.links.ensure_bridge(
                    self.bridge_of(network),
                    network.gateway,
                    network.prefix_length,
                    owner=str(self.engine.root),
                    gateway6=network.gateway6_interface,
                )
        for gone in await self._sync(self._removed_networks):
            await self.links.remove_bridge(self.bridge_of(gone))

    def _removed_networks(self) -> list[Network]:
        """Networks of this root removed: their bridges may be left by a crash."""
        self.engine.catch_up()
        return [self.engine.get_aggregate(i) for i in self.engine.views.network_ids(removed=True)]


def endpoint_on(container: Container, network_name: str) -> dict[str, Any]:
    """The endpoint a running container has on one network, as recorded at its start."""
    endpoint = container.endpoint or {}
    return dict((endpoint.get("Networks") or {}).get(network_name) or {})
