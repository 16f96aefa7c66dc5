"""What a container's endpoint may ask of a network (at start and at `network connect`):
dockerd's runconfig rules for addresses and aliases."""

from __future__ import annotations

from typing import Any

from .errors import InvalidParameter
from .network import Network

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


def check_endpoint_config(network: Network, config: dict[str, Any]) -> None:
    """dockerd's validateNetworkingConfig: what only a user-defined network can give."""
    ipam = (config or {}).get("IPAMConfig") or {}
    if ipam.get("IPv6Address"):
        raise InvalidParameter("IPv6Address (--ip6) is not supported by berth yet")
    wants_ip = bool(ipam.get("IPv4Address"))
    if network.is_default_bridge:
        if wants_ip:
            raise InvalidParameter(IP_ON_DEFAULT)
        if (config or {}).get("Aliases"):
            raise InvalidParameter(ALIAS_ON_DEFAULT)
    if wants_ip and not network.configured:
        raise InvalidParameter(IP_WITHOUT_SUBNET)
