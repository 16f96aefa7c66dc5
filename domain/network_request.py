"""`POST /networks/create`: Docker's request body checked and read into a `NetworkRequest`.

Everything berth applies is read here; a field it does not apply is refused with a 400
naming it (never stored and ignored). What berth applies: the `bridge` driver, one IPv4
IPAM config (Subnet, Gateway, IPRange, AuxiliaryAddresses), Internal, Attachable,
Labels, the bridge driver's options `com.docker.network.bridge.name` and
`com.docker.network.bridge.enable_ip_masquerade`, and `EnableIPv6` with one IPv6 IPAM
config (Subnet, Gateway, IPRange): dockerd 20.10 has no default IPv6 pools, so `--ipv6`
needs a subnet, and its IPv4 subnet still comes from the pools when none is given.

A name is unique, whatever `CheckDuplicate` says (dockerd makes a second network of the
same name without it; berth's network ids derive from names, so it cannot).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import Forbidden, InvalidParameter, NotFound, Unavailable
from .network_ipam import Subnet, parse_subnet_v6
from .network_pools import parse_gateway, parse_subnet
from .swarm import NOT_A_MANAGER, SWARM_DRIVERS

PREDEFINED = ("bridge", "host", "none", "default")
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
MASQUERADE_OPTION = "com.docker.network.bridge.enable_ip_masquerade"
ICC_OPTION = "com.docker.network.bridge.enable_icc"
#: Shown, and of no effect beyond `EnableIPv6`'s: dockerd 20.10's bridge driver takes
#: IPv6 from the request's flag, not from this option.
IPV6_OPTION = "com.docker.network.enable_ipv6"
FLAG_OPTIONS = (MASQUERADE_OPTION, ICC_OPTION, IPV6_OPTION)
APPLIED_OPTIONS = (BRIDGE_NAME_OPTION, *FLAG_OPTIONS)
#: Body fields that must keep their zero value: what berth does not apply.
REFUSED_FIELDS = {
    "Ingress": "Ingress (--ingress)",
    "ConfigOnly": "ConfigOnly (--config-only)",
}
NO_IPV6_POOL = (
    "could not find an available, non-overlapping IPv6 address pool among the defaults "
    "to assign to the network"
)


def unsupported(what: str) -> InvalidParameter:
    return InvalidParameter(f"{what} is not supported by berth yet")


@dataclass(frozen=True)
class NetworkRequest:
    name: str
    subnet: str | None = None  # None: chosen from the pools
    gateway: str | None = None
    ip_range: str = ""
    aux_addresses: dict[str, str] = field(default_factory=dict)
    internal: bool = False
    attachable: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    ipam_options: dict[str, str] | None = None  # echoed by inspect as given (only {} applies)
    enable_ipv6: bool = False
    # The user's IPAM configs as dockerd shows them: the fields given, as given.
    shown: dict[str, Any] | None = None
    shown6: dict[str, Any] | None = None
    subnet6: str = ""  # with enable_ipv6 only
    gateway6: str = ""
    ip_range6: str = ""

    @property
    def masquerade(self) -> bool:
        return bridge_flag(self.options, MASQUERADE_OPTION)


def bridge_flag(options: Mapping[str, Any], key: str) -> bool:
    """A bridge driver's true-or-false option (masquerade, icc): true unless set false."""
    return str(options.get(key, "true")).lower() in ("true", "1")


def _strings(value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidParameter(f"{what} must be a map of strings")
    return dict(value)


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidParameter(f"{key} must be a boolean")
    return value


def parse_network_request(body: object) -> NetworkRequest:
    if not isinstance(body, dict):
        raise InvalidParameter("invalid network create request: expected a JSON object")
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise InvalidParameter("network name must be a non-empty string")
    if "/" in name:  # it could not be named in a URL
        raise InvalidParameter(f"invalid network name {name!r}")
    if name in PREDEFINED:
        raise Forbidden(f"operation is not permitted on predefined {name} network ")
    driver = body.get("Driver") or "bridge"
    if driver in SWARM_DRIVERS:
        raise Unavailable(NOT_A_MANAGER)
    if driver != "bridge":
        raise NotFound(f"plugin {driver!r} not found")
    for key, what in REFUSED_FIELDS.items():
        if body.get(key):
            raise unsupported(what)
    if body.get("Scope") not in (None, "", "local"):
        raise unsupported("Scope (--scope)")
    if (body.get("ConfigFrom") or {}).get("Network"):
        raise unsupported("ConfigFrom (--config-from)")
    options = _strings(body.get("Options"), "Options")
    for key in options:
        if key not in APPLIED_OPTIONS:
            raise unsupported(f"the driver option {key} (-o)")
    for key in FLAG_OPTIONS:
        if options.get(key, "true").lower() not in ("true", "false", "1", "0"):
            raise InvalidParameter(f"invalid {key}: expected true or false")
    ipam = body.get("IPAM") or {}
    if not isinstance(ipam, dict):
        raise InvalidParameter("IPAM must be an object")
    if (ipam.get("Driver") or "default") != "default":
        raise unsupported(f"the IPAM driver {ipam['Driver']} (--ipam-driver)")
    # Kept and shown: dockerd 20.10's default IPAM driver reads none of its options.
    ipam_options = None if ipam.get("Options") is None else _strings(ipam["Options"], "Options")
    configs = ipam.get("Config") or []
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise InvalidParameter("IPAM.Config must be a list of objects")
    request = NetworkRequest(
        name=name,
        internal=_flag(body, "Internal"),
        attachable=_flag(body, "Attachable"),
        labels=_strings(body.get("Labels"), "Labels"),
        options=options,
        ipam_options=ipam_options,
        enable_ipv6=_flag(body, "EnableIPv6"),
    )
    v6 = [c for c in configs if ":" in str(c.get("Subnet") or "")]
    v4 = [c for c in configs if c not in v6]
    if len(v4) > 1 or len(v6) > 1:
        raise Forbidden("bridge driver doesn't support multiple subnets")
    if v6:
        request = _with_ipam_v6(request, v6[0])
    elif request.enable_ipv6:
        raise NotFound(NO_IPV6_POOL)
    if v4:
        return _with_ipam(request, v4[0])
    return request


def _with_ipam_v6(request: NetworkRequest, config: dict[str, Any]) -> NetworkRequest:
    """The IPv6 config of an `--ipv6` network; without `--ipv6` dockerd drops it unsaid,
    which berth refuses instead."""
    if not request.enable_ipv6:
        raise InvalidParameter(f"the IPv6 subnet {config['Subnet']} needs EnableIPv6 (--ipv6)")
    if config.get("AuxiliaryAddresses"):
        raise unsupported("AuxiliaryAddresses of an IPv6 subnet (--aux-address)")
    subnet = parse_subnet_v6(config["Subnet"])
    gateway = parse_gateway(config.get("Gateway") or None, subnet)
    ip_range = _ip_range(config, subnet, parse_subnet_v6)
    return replace(
        request,
        subnet6=str(subnet),
        gateway6=str(gateway),
        ip_range6=ip_range,
        shown6=_as_shown(config),
    )


def _ip_range(config: dict[str, Any], subnet: Subnet, parse: Callable[[str], Subnet]) -> str:
    """The config's IPRange (`--ip-range`), a subnet of `subnet`; "" without one."""
    if not config.get("IPRange"):
        return ""
    pool = parse(config["IPRange"])
    if not pool.subnet_of(subnet):  # type: ignore[arg-type]  # one family: parse's
        raise InvalidParameter(f"ip-range {pool} is not within the subnet {subnet}")
    return str(pool)


def _with_ipam(request: NetworkRequest, config: dict[str, Any]) -> NetworkRequest:
    subnet_text = config.get("Subnet")
    if not subnet_text:
        if config.get("Gateway") or config.get("IPRange") or config.get("AuxiliaryAddresses"):
            raise InvalidParameter("gateway, ip-range and aux-address need a subnet (--subnet)")
        return request
    subnet = parse_subnet(subnet_text, masked=True)
    gateway = parse_gateway(config.get("Gateway") or None, subnet)
    ip_range = _ip_range(config, subnet, lambda text: parse_subnet(text, masked=True))
    aux = _strings(config.get("AuxiliaryAddresses"), "AuxiliaryAddresses")
    for host, address in aux.items():
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            raise InvalidParameter(f"invalid auxiliary address {host}={address}") from None
        if ip not in subnet:
            raise InvalidParameter(f"auxiliary address {host}={address} is not in {subnet}")
    return replace(
        request,
        subnet=str(subnet),
        gateway=str(gateway),
        ip_range=ip_range,
        aux_addresses=aux,
        shown=_as_shown(config),
    )


def _as_shown(config: dict[str, Any]) -> dict[str, Any]:
    """An IPAM config as dockerd 20.10's inspect shows a user's: what was given, as given
    (a subnet with host bits too); no gateway unless one was."""
    return {
        k: config[k]
        for k in ("Subnet", "IPRange", "Gateway", "AuxiliaryAddresses")
        if config.get(k)
    }


def network_settings(request: NetworkRequest, subnet: str, gateway: str) -> dict[str, Any]:
    """A user-defined network's settings as `Network.Created` records them, its IPv4
    subnet chosen already."""
    return {
        "name": request.name,
        "driver": "bridge",
        "subnet": subnet,
        "gateway": gateway,
        "options": dict(request.options),
        "ip_range": request.ip_range,
        "aux_addresses": dict(request.aux_addresses),
        "internal": request.internal,
        "attachable": request.attachable,
        "labels": dict(request.labels),
        "configured": request.subnet is not None,
        "ipam_options": request.ipam_options,
        "enable_ipv6": request.enable_ipv6,
        "subnet6": request.subnet6,
        "gateway6": request.gateway6,
        "ip_range6": request.ip_range6,
        # A subnet from the pools is shown with its gateway, a user's as given.
        "ipam_shown": [
            request.shown or {"Subnet": subnet, "Gateway": gateway},
            *([request.shown6] if request.shown6 else []),
        ],
    }
