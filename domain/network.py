"""The Network aggregate: a bridge network and its address management (IPAM), IPv4 and,
for `--ipv6` networks, IPv6 (domain/network_ipam.py).

Every address handed out is an `AddressAllocated` event on the network's own stream, so
two allocations that race are serialised by optimistic concurrency and no address is
ever held by two containers. Allocation hands out the lowest free host address, never
the network address, the broadcast address or the gateway, and costs O(allocated), not
O(subnet size): a /8 is as cheap as a /24.

The events of a network's stream, and what each says (kept stable; others read them):
- `Created` / `Recreated` (settings): the network exists, with its name and settings;
  `Removed`: it does not any more. Ids derive from names (service/network_files.py).
- `EndpointJoined` (container_id, config, network_name): the container is on the network
  from its next start on, asking `config` (Aliases, IPAMConfig, MacAddress);
  `EndpointLeft` (container_id, network_name): it is not any more.
- `AddressAllocated` / `AddressReleased` (container_id, address, address6): the container
  holds an address (and on an `--ipv6` network an IPv6 one) while it runs (docker's
  `connect` / `disconnect` events).
- `EndpointAttached` (container_id, network_name, endpoint): a running container's
  endpoint set up by a live connect, as inspect shows it. At a start, the container's own
  `NetworkConnected` holds every network's endpoint under `endpoint["Networks"][name]`
  (Aliases with the short id on user networks, IPAddress, MacAddress, NetworkID...).
- `LinkRemoved` (container_id, alias): a legacy link of the default bridge is gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from .aggregate import CreatedEvent, DomainEvent, StrIdAggregate
from .cause import Cause
from .errors import Conflict, Forbidden, InvalidParameter, NotFound, NotModified
from .network_ipam import AddressBook
from .network_pools import parse_gateway, parse_subnet
from .network_request import NetworkRequest, network_settings

T = "berth.network"
#: The fields of `Created` a network's state is begun from (`Recreated` carries them too).
SETTINGS = ("name", "driver", "subnet", "gateway", "options", "ip_range", "aux_addresses",
            "internal", "attachable", "labels", "configured", "ipam_options",
            "enable_ipv6", "subnet6", "gateway6", "ip_range6", "ipam_shown")  # fmt: skip

NETWORK_ID_PATTERN = re.compile(r"[0-9a-f]{64}")
CONTAINER_ID_PATTERN = re.compile(r"[0-9a-f]{64}")


def is_network_id(text: str) -> bool:
    return bool(NETWORK_ID_PATTERN.fullmatch(text))


class Network(StrIdAggregate, AddressBook):
    TOPIC = T

    @dataclass(frozen=True)
    class Event(DomainEvent):
        TOPIC = f"{T}.Event"

    @dataclass(frozen=True)
    class Created(Event, CreatedEvent):
        TOPIC = f"{T}.Created"
        name: str
        driver: str
        subnet: str
        gateway: str
        options: dict[str, Any]
        # User-defined networks' settings; the defaults are what the default bridge
        # (and every network recorded before they existed) has.
        ip_range: str = ""
        aux_addresses: dict[str, str] | None = None
        internal: bool = False
        attachable: bool = False
        labels: dict[str, str] | None = None
        configured: bool = False  # the subnet was the user's (--subnet), not a pool's
        ipam_options: dict[str, str] | None = None  # as given: the CLI's {}, docker-py's null
        enable_ipv6: bool = False
        subnet6: str = ""  # the user's (dockerd 20.10 has no IPv6 pools)
        gateway6: str = ""
        ip_range6: str = ""
        ipam_shown: list[dict[str, Any]] | None = None  # IPAM.Config as inspect shows it

        def apply(self, n: Network) -> None:
            n.begin({key: getattr(self, key) for key in SETTINGS})
            n.created_at = self.timestamp

    @dataclass(frozen=True)
    class Recreated(Event):
        """A create of the name after its network was removed: the same stream goes on."""

        TOPIC = f"{T}.Recreated"
        settings: dict[str, Any]  # the fields of `Created`

        def apply(self, n: Network) -> None:
            n.begin(self.settings)
            n.created_at = self.timestamp

    @dataclass(frozen=True)
    class EndpointJoined(Event):
        """The container is on this network from its next start on (`network connect`
        of a container that is not running, or the intent of a live connect)."""

        TOPIC = f"{T}.EndpointJoined"
        container_id: str
        config: dict[str, Any]  # EndpointSettings asked for: Aliases, IPAMConfig, MacAddress
        network_name: str = ""  # for the views, which see one event at a time

        def apply(self, n: Network) -> None:
            n.members = {**n.members, self.container_id: dict(self.config)}
            n.departed = [c for c in n.departed if c != self.container_id]

    @dataclass(frozen=True)
    class EndpointAttached(Event):
        """A running container's endpoint is set up (`network connect` of a running
        container): its EndpointSettings as inspect shows them. At a start the container's
        own `NetworkConnected` says the same of all its networks."""

        TOPIC = f"{T}.EndpointAttached"
        container_id: str
        network_name: str
        endpoint: dict[str, Any]

        def apply(self, n: Network) -> None:
            n.attached = {**n.attached, self.container_id: dict(self.endpoint)}

    @dataclass(frozen=True)
    class LinkRemoved(Event):
        """`DELETE /containers/<parent>/<alias>?link=1`: a legacy link of the default
        bridge is gone; the parent's next start gets neither its variables nor its host."""

        TOPIC = f"{T}.LinkRemoved"
        container_id: str
        alias: str

        def apply(self, n: Network) -> None:
            kept = [a for a in n.unlinked.get(self.container_id, []) if a != self.alias]
            n.unlinked = {**n.unlinked, self.container_id: [*kept, self.alias]}

    @dataclass(frozen=True)
    class EndpointLeft(Event):
        """The container is no longer on this network (also when it was its NetworkMode)."""

        TOPIC = f"{T}.EndpointLeft"
        container_id: str
        network_name: str = ""

        def apply(self, n: Network) -> None:
            n.members = {c: v for c, v in n.members.items() if c != self.container_id}
            n.departed = [*n.departed, self.container_id]

    @dataclass(frozen=True)
    class AddressAllocated(Event):
        TOPIC = f"{T}.AddressAllocated"
        container_id: str
        address: str
        address6: str = ""

        def apply(self, n: Network) -> None:
            n.allocations[self.container_id] = self.address
            n.holders[self.address] = self.container_id
            if self.address6:
                n.allocations6 = {**n.allocations6, self.container_id: self.address6}
                n.holders6 = {**n.holders6, self.address6: self.container_id}

    @dataclass(frozen=True)
    class AddressReleased(Event):
        TOPIC = f"{T}.AddressReleased"
        container_id: str
        address: str
        address6: str = ""

        def apply(self, n: Network) -> None:
            del n.allocations[self.container_id]
            del n.holders[self.address]
            n.allocations6 = {c: a for c, a in n.allocations6.items() if c != self.container_id}
            n.holders6 = {a: c for a, c in n.holders6.items() if a != self.address6}
            n.attached = {c: e for c, e in n.attached.items() if c != self.container_id}

    @dataclass(frozen=True)
    class Removed(Event):
        TOPIC = f"{T}.Removed"

        def apply(self, n: Network) -> None:
            n.removed = True

    if TYPE_CHECKING:
        # State, filled in by the events' apply(); see Container for why it lives here.
        name: str
        driver: str
        subnet: str
        gateway: str
        options: dict[str, Any]
        allocations: dict[str, str]  # container id -> address
        holders: dict[str, str]  # address -> container id
        removed: bool

    # Read from snapshots taken before these existed too; only ever replaced, not changed.
    members = cast("dict[str, dict[str, Any]]", {})  # container id -> endpoint config (connect)
    attached = cast("dict[str, dict[str, Any]]", {})  # live connects: container -> endpoint
    unlinked = cast("dict[str, list[str]]", {})  # parent container -> link aliases removed
    departed = cast("list[str]", [])  # containers disconnected from their NetworkMode network
    ip_range = ""
    created_at: datetime | None = None
    aux_addresses = cast("dict[str, str]", {})
    internal = False
    attachable = False
    labels = cast("dict[str, str]", {})
    configured = False
    ipam_options: dict[str, str] | None = None
    enable_ipv6 = False
    subnet6 = ""
    gateway6 = ""
    ip_range6 = ""
    ipam_shown: list[dict[str, Any]] | None = None
    allocations6 = cast("dict[str, str]", {})  # container id -> IPv6 address
    holders6 = cast("dict[str, str]", {})  # IPv6 address -> container id

    def begin(self, settings: dict[str, Any]) -> None:
        self.name = settings["name"]
        self.driver = settings["driver"]
        self.subnet = settings["subnet"]
        self.gateway = settings["gateway"]
        self.options = dict(settings["options"])
        self.ip_range = settings["ip_range"]
        self.aux_addresses = dict(settings["aux_addresses"] or {})
        self.internal = settings["internal"]
        self.attachable = settings["attachable"]
        self.labels = dict(settings["labels"] or {})
        self.configured = settings["configured"]
        self.ipam_options = settings.get("ipam_options")
        self.enable_ipv6 = settings.get("enable_ipv6", False)
        self.subnet6 = settings.get("subnet6", "")
        self.gateway6 = settings.get("gateway6", "")
        self.ip_range6 = settings.get("ip_range6", "")
        self.ipam_shown = settings.get("ipam_shown")
        self.allocations6 = {}
        self.holders6 = {}
        self.allocations = {}
        self.holders = {}
        self.members = {}
        self.departed = []
        self.attached = {}
        self.unlinked = {}
        self.removed = False

    @classmethod
    def create(
        cls,
        *,
        id: str,
        name: str,
        subnet: str,
        gateway: str | None = None,
        driver: str = "bridge",
        options: dict[str, Any] | None = None,
        cause: Cause,
    ) -> Network:
        if not isinstance(id, str) or not is_network_id(id):
            raise InvalidParameter(f"invalid network id {id!r}: need 64 lowercase hex")
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise InvalidParameter(f"invalid network name {name!r}")
        if not isinstance(driver, str) or not driver:
            raise InvalidParameter(f"invalid network driver {driver!r}")
        opts = {} if options is None else options
        if not isinstance(opts, dict) or not all(isinstance(k, str) for k in opts):
            raise InvalidParameter("network options must be a map with string keys")
        net = parse_subnet(subnet)
        gw = parse_gateway(gateway, net)
        network: Network = cls._start(
            id,
            cls.Created,
            cause,
            name=name,
            driver=driver,
            subnet=str(net),
            gateway=str(gw),
            options=dict(opts),
        )
        return network

    @classmethod
    def define(
        cls, *, id: str, request: NetworkRequest, subnet: str, gateway: str, cause: Cause
    ) -> Network:
        """A user-defined network (`POST /networks/create`), its subnet chosen already."""
        settings = network_settings(request, subnet, gateway)
        network: Network = cls._start(id, cls.Created, cause, **settings)
        return network

    def define_again(
        self, request: NetworkRequest, subnet: str, gateway: str, cause: Cause
    ) -> None:
        """The create of a removed network's name: `Recreated` on the same stream."""
        if not self.removed:
            raise Conflict(f"network with name {self.name} already exists")
        self._record(self.Recreated, cause, settings=network_settings(request, subnet, gateway))

    @property
    def is_default_bridge(self) -> bool:
        return self.options.get("com.docker.network.bridge.default_bridge") == "true" or (
            self.name == "bridge"
        )

    def join(
        self, container_id: str, container_name: str, config: dict[str, Any], cause: Cause
    ) -> None:
        """The container is on this network from now on (`network connect`)."""
        self._check_exists()
        if container_id in self.members or container_id in self.allocations:
            raise Forbidden(
                f"endpoint with name {container_name} already exists in network {self.name}"
            )
        self._record(
            self.EndpointJoined,
            cause,
            container_id=container_id,
            config=config,
            network_name=self.name,
        )

    def mark_attached(self, container_id: str, endpoint: dict[str, Any], cause: Cause) -> None:
        """The outcome of a live connect: the endpoint is set up (see `EndpointAttached`)."""
        self._check_exists()
        if container_id not in self.allocations:
            raise NotModified("no address: the container stopped meanwhile")
        self._record(
            self.EndpointAttached,
            cause,
            container_id=container_id,
            network_name=self.name,
            endpoint=endpoint,
        )

    def remove_link(self, container_id: str, alias: str, cause: Cause) -> None:
        self._check_exists()
        if alias in self.unlinked.get(container_id, []):
            raise NotFound(f"Could not find entity for {alias}")
        self._record(self.LinkRemoved, cause, container_id=container_id, alias=alias)

    def leave(self, container_id: str, cause: Cause) -> None:
        self._check_exists()
        if container_id in self.departed and container_id not in self.members:
            raise NotModified("already left")
        self._record(self.EndpointLeft, cause, container_id=container_id, network_name=self.name)

    def _check_exists(self) -> None:
        if self.removed:
            raise NotFound(f"network {self.name} not found")

    def allocate(
        self,
        container_id: str,
        cause: Cause,
        requested: str | None = None,
        requested6: str | None = None,
    ) -> str:
        """The container's address: the one it holds, else `requested` (--ip) or the lowest
        free one; recorded, with an IPv6 address (--ip6, else the lowest free) on an
        `--ipv6` network."""
        self._check_exists()
        if not isinstance(container_id, str) or not CONTAINER_ID_PATTERN.fullmatch(container_id):
            raise InvalidParameter(f"invalid container id {container_id!r}: need 64 lowercase hex")
        held = self.allocations.get(container_id)
        if held is not None:
            return held
        address, address6 = self.free_addresses(requested, requested6)
        if address is None or (self.subnet6 and not address6):
            family = "IPv4" if address is None else "IPv6"
            raise Conflict(
                f"no available {family} addresses on this network's address pools: "
                f"{self.name} ({self.id})"
            )
        self._record(
            self.AddressAllocated,
            cause,
            container_id=container_id,
            address=address,
            address6=address6,
        )
        return address

    def release(self, container_id: str, cause: Cause) -> bool:
        """Give the container's address back; False (nothing recorded) if it held none."""
        self._check_exists()
        held = self.allocations.get(container_id)
        if held is None:
            return False
        self._record(
            self.AddressReleased,
            cause,
            container_id=container_id,
            address=held,
            address6=self.address6_of(container_id),
        )
        return True

    def remove(self, cause: Cause) -> None:
        self._check_exists()
        if self.allocations:
            raise Conflict(
                f"error while removing network: network {self.name} id {self.id} "
                "has active endpoints"
            )
        self._record(self.Removed, cause)
