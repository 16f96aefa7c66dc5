"""Where a network's subnet comes from when none is given, and what it must not overlap.

dockerd 20.10 gives each user network a /16 of 172.17-31 (then a /20 of 192.168), which
lets 29 engine roots on one host take every pool; berth carves the same ranges into /24s
(as dockerd's `default-address-pools` with `size: 24` would), see ADR/0038.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from .errors import Conflict, Forbidden, InvalidParameter, NotFound

MAX_PREFIX_LENGTH = 30

#: The ranges of Docker's default address pools, carved as dockerd's
#: `default-address-pools` would with `size`: small subnets, many roots on one host.
POOL_RANGES = ("172.17.0.0/16", *(f"172.{n}.0.0/16" for n in range(18, 32)), "192.168.0.0/16")
POOL_PREFIX = 24


def choose_pool(taken: list[ipaddress.IPv4Network]) -> tuple[str, str]:
    """The first /24 of the pools that overlaps nothing taken: (subnet, gateway)."""
    wanted = [t for t in taken if t.prefixlen > 0]
    for base in POOL_RANGES:
        for candidate in ipaddress.IPv4Network(base).subnets(new_prefix=POOL_PREFIX):
            if not any(candidate.overlaps(t) for t in wanted):
                return str(candidate), str(candidate.network_address + 1)
    raise NotFound(
        "could not find an available, non-overlapping IPv4 address pool among the "
        "defaults to assign to the network"
    )


def check_no_overlap(
    subnet: str, taken: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> None:
    """A user's subnet must not overlap another network or a host route (dockerd's 403);
    IPv4 or IPv6, against those of its family."""
    net = ipaddress.ip_network(subnet)
    if any(net.overlaps(t) for t in taken if t.prefixlen > 0):
        raise Forbidden("Pool overlaps with other one on this address space")


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
    return choose_pool(taken)


def parse_subnet(subnet: object, *, masked: bool = False) -> ipaddress.IPv4Network:
    """An IPv4 subnet in CIDR form, with room for at least two hosts; without host bits,
    or, `masked`, with them dropped (a user's `--subnet 10.1.0.1/16`, as dockerd 20.10's
    net.ParseCIDR takes it)."""
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
    if not masked and str(loose.network_address) != subnet.split("/", 1)[0]:
        raise InvalidParameter(f"invalid subnet {subnet} : it should be {loose}")
    if loose.prefixlen > MAX_PREFIX_LENGTH:
        raise InvalidParameter(
            f"invalid subnet {subnet}: prefix length must be {MAX_PREFIX_LENGTH} or less"
        )
    return loose


def parse_gateway(
    gateway: object, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The gateway, of the subnet's family: given, or the subnet's first host address;
    never the network address, nor IPv4's broadcast address (IPv6 has none)."""
    if gateway is None:
        return subnet.network_address + 1
    expected = f"expected an IPv{subnet.version} address"
    try:
        if not isinstance(gateway, str):
            raise ValueError
        address = ipaddress.ip_address(gateway)
        if address.version != subnet.version:
            raise ValueError
    except ValueError:
        raise InvalidParameter(f"invalid gateway {gateway!r}: {expected}") from None
    if address not in subnet:
        raise InvalidParameter(f"invalid gateway {gateway}: not in subnet {subnet}")
    reserved = [subnet.network_address]
    if isinstance(subnet, ipaddress.IPv4Network):
        reserved.append(subnet.broadcast_address)
    if address in reserved:
        raise InvalidParameter(
            f"invalid gateway {gateway}: the network or broadcast address of {subnet}"
        )
    return address
