"""Docker's `network.NetworkingConfig`: per-network endpoint settings of a create request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .config_json import (
    INT,
    STR,
    STRLIST,
    STRMAP,
    DockerStruct,
    ListOf,
    MapOf,
    Opt,
    Struct,
    jf,
)


@dataclass(frozen=True)
class EndpointIPAMConfig(DockerStruct):
    GO_STRUCT = "EndpointIPAMConfig"
    GO_TYPE = "network.EndpointIPAMConfig"

    ipv4_address: str = field(default="", metadata=jf("IPv4Address", STR, omitempty=True))
    ipv6_address: str = field(default="", metadata=jf("IPv6Address", STR, omitempty=True))
    link_local_ips: tuple[str, ...] = field(
        default=(), metadata=jf("LinkLocalIPs", ListOf(STR, nil_is_empty=True), omitempty=True)
    )


@dataclass(frozen=True)
class EndpointSettings(DockerStruct):
    """One network's endpoint: what the user asks for and, once connected, what it got."""

    GO_STRUCT = "EndpointSettings"
    GO_TYPE = "network.EndpointSettings"

    ipam_config: EndpointIPAMConfig | None = field(
        default=None, metadata=jf("IPAMConfig", Opt(Struct(EndpointIPAMConfig)))
    )
    links: tuple[str, ...] | None = field(default=None, metadata=jf("Links", STRLIST))
    aliases: tuple[str, ...] | None = field(default=None, metadata=jf("Aliases", STRLIST))
    mac_address: str = field(default="", metadata=jf("MacAddress", STR))
    driver_opts: Mapping[str, str] | None = field(default=None, metadata=jf("DriverOpts", STRMAP))
    gw_priority: int = field(default=0, metadata=jf("GwPriority", INT))
    network_id: str = field(default="", metadata=jf("NetworkID", STR))
    endpoint_id: str = field(default="", metadata=jf("EndpointID", STR))
    gateway: str = field(default="", metadata=jf("Gateway", STR))
    ip_address: str = field(default="", metadata=jf("IPAddress", STR))
    ip_prefix_len: int = field(default=0, metadata=jf("IPPrefixLen", INT))
    ipv6_gateway: str = field(default="", metadata=jf("IPv6Gateway", STR))
    global_ipv6_address: str = field(default="", metadata=jf("GlobalIPv6Address", STR))
    global_ipv6_prefix_len: int = field(default=0, metadata=jf("GlobalIPv6PrefixLen", INT))
    dns_names: tuple[str, ...] | None = field(default=None, metadata=jf("DNSNames", STRLIST))


@dataclass(frozen=True)
class NetworkingConfig(DockerStruct):
    GO_STRUCT = "NetworkingConfig"
    GO_TYPE = "network.NetworkingConfig"

    endpoints_config: Mapping[str, EndpointSettings] | None = field(
        default=None,
        metadata=jf(
            "EndpointsConfig",
            MapOf(Struct(EndpointSettings), go_type="map[string]*network.EndpointSettings"),
        ),
    )
