"""The Network aggregate: a bridge network and its IPv4 address management (IPAM).

Every address handed out is an `AddressAllocated` event on the network's own stream, so
two allocations that race are serialised by optimistic concurrency and no address is
ever held by two containers. Allocation hands out the lowest free host address, never
the network address, the broadcast address or the gateway, and costs O(allocated), not
O(subnet size): a /8 is as cheap as a /24.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .aggregate import CreatedEvent, DomainEvent, StrIdAggregate
from .cause import Cause
from .errors import Conflict, InvalidParameter, NotFound

T = "berth.network"

NETWORK_ID_PATTERN = re.compile(r"[0-9a-f]{64}")
CONTAINER_ID_PATTERN = re.compile(r"[0-9a-f]{64}")
MAX_PREFIX_LENGTH = 30


def is_network_id(text: str) -> bool:
    return bool(NETWORK_ID_PATTERN.fullmatch(text))


def parse_subnet(subnet: object) -> ipaddress.IPv4Network:
    """An IPv4 subnet in CIDR form without host bits, with room for at least two hosts."""
    if not isinstance(subnet, str) or "/" not in subnet:
        raise InvalidParameter(f"invalid subnet {subnet!r}: expected IPv4 CIDR like 172.18.0.0/16")
    try:
        loose = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        raise InvalidParameter(
            f"invalid subnet {subnet!r}: expected IPv4 CIDR like 172.18.0.0/16"
        ) from None
    if not isinstance(loose, ipaddress.IPv4Network):
        raise InvalidParameter(f"invalid subnet {subnet}: only IPv4 subnets are supported")
    if str(loose.network_address) != subnet.split("/", 1)[0]:
        raise InvalidParameter(f"invalid subnet {subnet} : it should be {loose}")
    if loose.prefixlen > MAX_PREFIX_LENGTH:
        raise InvalidParameter(
            f"invalid subnet {subnet}: prefix length must be {MAX_PREFIX_LENGTH} or less"
        )
    return loose


def parse_gateway(gateway: object, subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The gateway: given, or the subnet's first host address; never network/broadcast."""
    if gateway is None:
        return subnet.network_address + 1
    if not isinstance(gateway, str):
        raise InvalidParameter(f"invalid gateway {gateway!r}: expected an IPv4 address")
    try:
        address = ipaddress.IPv4Address(gateway)
    except ValueError:
        raise InvalidParameter(f"invalid gateway {gateway!r}: expected an IPv4 address") from None
    if address not in subnet:
        raise InvalidParameter(f"invalid gateway {gateway}: not in subnet {subnet}")
    if address in (subnet.network_address, subnet.broadcast_address):
        raise InvalidParameter(
            f"invalid gateway {gateway}: the network or broadcast address of {subnet}"
        )
    return address


class Network(StrIdAggregate):
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

        def apply(self, n: Network) -> None:
            n.name = self.name
            n.driver = self.driver
            n.subnet = self.subnet
            n.gateway = self.gateway
            n.options = dict(self.options)
            n.allocations = {}
            n.holders = {}
            n.removed = False

    @dataclass(frozen=True)
    class AddressAllocated(Event):
        TOPIC = f"{T}.AddressAllocated"
        container_id: str
        address: str

        def apply(self, n: Network) -> None:
            n.allocations[self.container_id] = self.address
            n.holders[self.address] = self.container_id

    @dataclass(frozen=True)
    class AddressReleased(Event):
        TOPIC = f"{T}.AddressReleased"
        container_id: str
        address: str

        def apply(self, n: Network) -> None:
            del n.allocations[self.container_id]
            del n.holders[self.address]

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

    @property
    def prefix_length(self) -> int:
        return ipaddress.IPv4Network(self.subnet).prefixlen

    def address_of(self, container_id: str) -> str | None:
        return self.allocations.get(container_id)

    def _check_exists(self) -> None:
        if self.removed:
            raise NotFound(f"network {self.name} not found")

    def lowest_free_address(self) -> str | None:
        """The lowest host address neither allocated nor the gateway; None if exhausted.

        Scans upward from the first host address; every step past a taken address is one
        allocated address (or the gateway), so this is O(allocated).
        """
        net = ipaddress.IPv4Network(self.subnet)
        gateway = int(ipaddress.IPv4Address(self.gateway))
        candidate = int(net.network_address) + 1
        last_host = int(net.broadcast_address) - 1
        while candidate <= last_host:
            text = str(ipaddress.IPv4Address(candidate))
            if candidate != gateway and text not in self.holders:
                return text
            candidate += 1
        return None

    def allocate(self, container_id: str, cause: Cause) -> str:
        """The container's address: the one it holds, else the lowest free one (recorded)."""
        self._check_exists()
        if not isinstance(container_id, str) or not CONTAINER_ID_PATTERN.fullmatch(container_id):
            raise InvalidParameter(f"invalid container id {container_id!r}: need 64 lowercase hex")
        held = self.allocations.get(container_id)
        if held is not None:
            return held
        address = self.lowest_free_address()
        if address is None:
            raise Conflict(
                "no available IPv4 addresses on this network's address pools: "
                f"{self.name} ({self.id})"
            )
        self._record(self.AddressAllocated, cause, container_id=container_id, address=address)
        return address

    def release(self, container_id: str, cause: Cause) -> bool:
        """Give the container's address back; False (nothing recorded) if it held none."""
        self._check_exists()
        held = self.allocations.get(container_id)
        if held is None:
            return False
        self._record(self.AddressReleased, cause, container_id=container_id, address=held)
        return True

    def remove(self, cause: Cause) -> None:
        self._check_exists()
        if self.allocations:
            raise Conflict(
                f"error while removing network: network {self.name} id {self.id} "
                "has active endpoints"
            )
        self._record(self.Removed, cause)


# Docker's default address pools for its default bridge, in the order dockerd tries them.
DEFAULT_BRIDGE_POOLS = (
    *(f"172.{n}.0.0/16" for n in range(17, 32)),
    *(f"192.168.{n}.0/20" for n in range(0, 256, 16)),
)


def mac_address(address: str) -> str:
    """Docker's MAC for a bridge endpoint: 02:42 followed by the IPv4 address's bytes."""
    packed = ipaddress.IPv4Address(address).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)


def parse_bip(bip: str) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Address]:
    """dockerd's `--bip`: the bridge's own address with the prefix, e.g. 172.17.0.1/16."""
    try:
        interface = ipaddress.IPv4Interface(bip)
    except ValueError:
        raise InvalidParameter(
            f"invalid --bip {bip!r}: expected an IPv4 CIDR like 172.17.0.1/16"
        ) from None
    subnet = interface.network
    if subnet.prefixlen > MAX_PREFIX_LENGTH:
        raise InvalidParameter(
            f"invalid --bip {bip}: prefix length must be {MAX_PREFIX_LENGTH} or less"
        )
    if interface.ip in (subnet.network_address, subnet.broadcast_address):
        raise InvalidParameter(f"invalid --bip {bip}: the network or broadcast address of {subnet}")
    return subnet, interface.ip


def choose_bridge_subnet(
    bip: str | None, host_routes: list[ipaddress.IPv4Network]
) -> tuple[str, str]:
    """The default bridge's (subnet, gateway): `bip` if given, else the first free pool.

    A subnet that overlaps a route or an address the host already has is refused: the
    host could no longer reach whatever that route leads to (the default route aside).
    """
    taken = [r for r in host_routes if r.prefixlen > 0]
    if bip is not None:
        subnet, gateway = parse_bip(bip)
        for route in taken:
            if subnet.overlaps(route):
                raise Conflict(
                    f"--bip {bip}: the subnet {subnet} overlaps the host's route to {route}"
                )
        return str(subnet), str(gateway)
    for pool in DEFAULT_BRIDGE_POOLS:
        candidate = ipaddress.IPv4Network(pool)
        if not any(candidate.overlaps(route) for route in taken):
            return str(candidate), str(candidate.network_address + 1)
    raise Conflict(
        "could not find an available, non-overlapping IPv4 address pool among the "
        "defaults to assign to the network"
    )
