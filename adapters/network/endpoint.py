"""What a network endpoint is (`Endpoint`) and the checks of names and addresses that
run before anything is changed, shared by the netlink adapter and its fake."""

from __future__ import annotations

import ctypes
import ipaddress
import os
import re
from dataclasses import dataclass

from berth.domain.errors import BerthError, InvalidParameter

IFNAMSIZ = 15
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


class NetworkSetupFailed(BerthError):
    """The kernel refused a link, address or route change (500)."""

    http_status = 500


@dataclass(frozen=True)
class Endpoint:
    netns: str  # namespace name; its file is /run/netns/<netns>
    bridge: str  # host bridge name (<= 15 chars)
    host_veth: str  # host end of the veth pair (<= 15 chars)
    address: str  # "172.30.0.2"
    prefix_len: int  # 16
    gateway: str  # "172.30.0.1"
    mac: str  # "02:42:ac:1e:00:02"
    interface: str = "eth0"  # name of the container end inside the netns
    default_route: bool = True  # via `gateway`; False for a second network or an internal one
    # An `--ipv6` network's: the address, its prefix length and the gateway ("" if none).
    address6: str = ""
    prefix6_len: int = 0
    gateway6: str = ""
    link_local: tuple[str, ...] = ()  # `--link-local-ip`s with their prefix: "169.254.8.8/16"


def _libc_call(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _check_owner(owner: str) -> None:
    if len(owner) > 200 or "\0" in owner:
        raise InvalidParameter(f"invalid bridge owner {owner[:50]!r}: 200 characters at most")


def _check_ifname(name: str) -> None:
    if not (0 < len(name) <= IFNAMSIZ and _NAME.fullmatch(name)):
        raise InvalidParameter(f"invalid interface name {name!r}: 1-15 of [A-Za-z0-9_.-]")


def _check_netns_name(name: str) -> None:
    if not (len(name) <= 200 and _NAME.fullmatch(name)):
        raise InvalidParameter(f"invalid network namespace name {name!r}")


def _check_ipv4(value: str, what: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise InvalidParameter(f"invalid {what} {value!r}: not an IPv4 address") from None


def check_interface6(value: str, what: str) -> ipaddress.IPv6Interface:
    """An IPv6 address with its prefix length: "2001:db8::1/64"."""
    try:
        if "/" not in value:
            raise ValueError
        return ipaddress.IPv6Interface(value)
    except ValueError:
        raise InvalidParameter(f"invalid {what} {value!r}: not an IPv6 address/prefix") from None


def _check_prefix_len(prefix_len: int) -> None:
    if not 1 <= prefix_len <= 30:
        raise InvalidParameter(f"invalid prefix length {prefix_len}: must be 1-30")


def _check_endpoint(endpoint: Endpoint) -> None:
    _check_netns_name(endpoint.netns)
    for name in (endpoint.bridge, endpoint.host_veth, endpoint.interface):
        _check_ifname(name)
    address = _check_ipv4(endpoint.address, "address")
    gateway = _check_ipv4(endpoint.gateway, "gateway")
    _check_prefix_len(endpoint.prefix_len)
    network = ipaddress.IPv4Network(f"{gateway}/{endpoint.prefix_len}", strict=False)
    if address not in network or address == gateway:
        raise InvalidParameter(
            f"address {address} is not a host address of {network} other than the gateway"
        )
    if not _MAC.fullmatch(endpoint.mac):
        raise InvalidParameter(f"invalid MAC address {endpoint.mac!r}")
    if endpoint.address6:
        interface = check_interface6(f"{endpoint.address6}/{endpoint.prefix6_len}", "address")
        if endpoint.gateway6 and ipaddress.IPv6Address(endpoint.gateway6) not in interface.network:
            raise InvalidParameter(f"gateway {endpoint.gateway6} is not in {interface.network}")
    for link_local in endpoint.link_local:
        try:
            ipaddress.ip_interface(link_local)
        except ValueError:
            raise InvalidParameter(f"invalid link-local address {link_local!r}") from None
