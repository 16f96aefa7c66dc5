"""A network's address management, for IPv4 and IPv6 alike: the lowest free address of a
subnet (or its `--ip-range`), an address asked for (`--ip`, `--ip6`), the IPv6 subnet of
`--ipv6` networks.

As libnetwork's default IPAM: the network address is never handed out, nor is IPv4's
broadcast address; IPv6 has no broadcast, so its last address is a host's like any other.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping, Sequence

from .errors import Forbidden, InvalidParameter

Subnet = ipaddress.IPv4Network | ipaddress.IPv6Network
#: The longest IPv6 prefix a network takes: room for a gateway and a container.
MAX_PREFIX_LENGTH_V6 = 126


def lowest_free(
    subnet: str, ip_range: str, gateway: str, taken: Collection[str], reserved: Collection[str]
) -> str | None:
    """The lowest host address of `ip_range` (else the subnet) that is neither taken,
    reserved nor the gateway; None if there is none. O(taken): every step past the first
    candidate is past a taken, reserved or gateway address."""
    net = ipaddress.ip_network(subnet)
    pool = ipaddress.ip_network(ip_range or subnet)
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    candidate = max(int(pool.network_address), int(net.network_address) + 1)
    last_host = min(int(pool.broadcast_address), last)
    wanted = ipaddress.ip_address(gateway) if gateway else None
    while candidate <= last_host:
        address = ipaddress.ip_address(candidate)
        text = str(address)
        if address != wanted and text not in taken and text not in reserved:
            return text
        candidate += 1
    return None


def checked_request(
    requested: str,
    subnet: str,
    gateway: str,
    holders: Mapping[str, str],
    reserved: Collection[str],
) -> str:
    """An address asked for (`--ip`, `--ip6`) that the network can give, as text."""
    net = ipaddress.ip_network(subnet)
    family = "IPv4" if net.version == 4 else "IPv6"
    try:
        address = ipaddress.ip_address(requested)
    except ValueError:
        raise InvalidParameter(f"invalid {family} address: {requested}") from None
    if address.version != net.version:
        raise InvalidParameter(f"invalid {family} address: {requested}")
    if address not in net:
        raise InvalidParameter(
            f"Invalid address {address}: It does not belong to any of this network's subnets"
        )
    text = str(address)
    if text in holders or text == gateway or text in reserved:
        raise Forbidden("Address already in use")
    return text


def parse_subnet_v6(subnet: object) -> ipaddress.IPv6Network:
    """An IPv6 subnet in CIDR form (`--subnet` of an `--ipv6` network), host bits
    dropped as dockerd 20.10's net.ParseCIDR drops them."""
    try:
        if not isinstance(subnet, str) or "/" not in subnet:
            raise ValueError
        net = ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid subnet {subnet!r}: expected a CIDR") from None
    if not isinstance(net, ipaddress.IPv6Network):
        raise InvalidParameter(f"invalid subnet {subnet}: not an IPv6 subnet")
    if net.prefixlen > MAX_PREFIX_LENGTH_V6:
        raise InvalidParameter(
            f"invalid subnet {subnet}: prefix length must be {MAX_PREFIX_LENGTH_V6} or less"
        )
    return net


def link_local_interfaces(addresses: Sequence[str]) -> list[str]:
    """`--link-local-ip`s as the addresses their interface gets: libnetwork's /16 for
    IPv4, /64 for IPv6 (dockerd's message names the whole list, as Go prints it)."""
    found = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            listed = " ".join(addresses)
            raise InvalidParameter(f"Invalid link-local IP address: [{listed}]") from None
        found.append(f"{address}/{16 if address.version == 4 else 64}")
    return found


def check_address_forms(ipv4: str, ipv6: str, link_local: Sequence[str]) -> None:
    """dockerd's verifyNetworkingConfig at create: each address an endpoint asks for is
    one of its family (what the network can give is the start's to say)."""
    for text, version in ((ipv4, 4), (ipv6, 6)):
        try:
            if text and ipaddress.ip_address(text).version != version:
                raise ValueError
        except ValueError:
            raise InvalidParameter(f"invalid IPv{version} address: {text}") from None
    link_local_interfaces(link_local)


class AddressBook:
    """What a Network knows of its addresses (its state, kept by its events), read."""

    subnet: str
    gateway: str
    ip_range: str
    aux_addresses: dict[str, str]
    allocations: dict[str, str]  # container id -> IPv4 address
    holders: dict[str, str]  # IPv4 address -> container id
    subnet6: str
    gateway6: str
    ip_range6: str
    allocations6: dict[str, str]
    holders6: dict[str, str]

    @property
    def prefix_length(self) -> int:
        return ipaddress.IPv4Network(self.subnet).prefixlen

    @property
    def prefix6_length(self) -> int:
        return ipaddress.IPv6Network(self.subnet6).prefixlen if self.subnet6 else 0

    @property
    def gateway6_interface(self) -> str:
        """The bridge's IPv6 address with its prefix ("" without `--ipv6`)."""
        return f"{self.gateway6}/{self.prefix6_length}" if self.gateway6 else ""

    def address_of(self, container_id: str) -> str | None:
        return self.allocations.get(container_id)

    def address6_of(self, container_id: str) -> str:
        return self.allocations6.get(container_id, "")

    def lowest_free_address(self) -> str | None:
        """The lowest IPv4 host address neither allocated nor the gateway; None if none."""
        reserved = set(self.aux_addresses.values())
        return lowest_free(self.subnet, self.ip_range, self.gateway, self.holders, reserved)

    def free_addresses(
        self, requested: str | None, requested6: str | None
    ) -> tuple[str | None, str]:
        """The addresses a new endpoint gets: `requested` (--ip) or the lowest free IPv4
        one (None if none is), and with an IPv6 subnet `requested6` (--ip6) or the lowest
        free IPv6 one ("" if none is)."""
        reserved = set(self.aux_addresses.values())
        address = (
            checked_request(requested, self.subnet, self.gateway, self.holders, reserved)
            if requested
            else self.lowest_free_address()
        )
        if not self.subnet6:
            return address, ""
        address6 = (
            checked_request(requested6, self.subnet6, self.gateway6, self.holders6, ())
            if requested6
            else lowest_free(self.subnet6, self.ip_range6, self.gateway6, self.holders6, ())
        )
        return address, address6 or ""
