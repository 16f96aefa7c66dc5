"""What a container's endpoint may ask of a network (at start and at `network connect`):
dockerd's runconfig rules for addresses and aliases."""

from __future__ import annotations

from typing import Any

from .errors import InvalidParameter
from .network import Network
from .network_ipam import link_local_interfaces

# dockerd's runconfig errors for what an endpoint asks of a network (at start and connect).
IP_ON_DEFAULT = "user specified IP address is supported on user defined networks only"
ALIAS_ON_DEFAULT = "network-scoped alias is supported only for containers in user defined networks"
IP_WITHOUT_SUBNET = (
    "user specified IP address is supported only when connecting to networks with user "
    "configured subnets"
)


def requested_address(config: dict[str, Any]) -> str | None:
    """The IPv4 address an endpoint config asks for (`--ip`), if any."""
    return ((config or {}).get("IPAMConfig") or {}).get("IPv4Address") or None


def requested_address6(config: dict[str, Any]) -> str | None:
    """The IPv6 address an endpoint config asks for (`--ip6`), if any."""
    return ((config or {}).get("IPAMConfig") or {}).get("IPv6Address") or None


def link_local_addresses(config: dict[str, Any]) -> list[str]:
    """The endpoint's `--link-local-ip`s with their prefix, as its interface gets them."""
    return link_local_interfaces(((config or {}).get("IPAMConfig") or {}).get("LinkLocalIPs") or [])


def check_endpoint_config(network: Network, config: dict[str, Any]) -> None:
    """dockerd's validateNetworkingConfig: what only a user-defined network can give."""
    wants_ip = bool(requested_address(config))
    wants_ip6 = bool(requested_address6(config))
    if network.is_default_bridge:
        if wants_ip or wants_ip6:
            raise InvalidParameter(IP_ON_DEFAULT)
        if (config or {}).get("Aliases"):
            raise InvalidParameter(ALIAS_ON_DEFAULT)
    if (wants_ip and not network.configured) or (wants_ip6 and not network.subnet6):
        raise InvalidParameter(IP_WITHOUT_SUBNET)
    link_local_addresses(config)
