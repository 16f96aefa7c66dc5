"""The network adapter: bridge, namespaces and veth pairs (links), published ports (ports),
and what the service may rely on from each (protocol: `Links`, `Forwarders`).

The names are loaded on first use so that `python -m berth.adapters.network.forwarder`,
which imports this package first, starts without pyroute2 and trio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from berth.adapters.network.endpoint import Endpoint, NetworkSetupFailed
    from berth.adapters.network.firewall import IptablesFirewall
    from berth.adapters.network.links import NetworkLinks
    from berth.adapters.network.ports import (
        PortForward,
        PortForwarders,
        PortForwardFailed,
        forwards_path,
        read_forwards,
        running_forwarders,
    )
    from berth.adapters.network.protocol import Firewall, Forwarders, Links

__all__ = [
    "Endpoint",
    "Firewall",
    "Forwarders",
    "IptablesFirewall",
    "Links",
    "NetworkLinks",
    "NetworkSetupFailed",
    "PortForward",
    "PortForwardFailed",
    "PortForwarders",
    "forwards_path",
    "read_forwards",
    "running_forwarders",
]

_HOME = {
    "Endpoint": "endpoint",
    "Firewall": "protocol",
    "Forwarders": "protocol",
    "IptablesFirewall": "firewall",
    "Links": "protocol",
    "NetworkLinks": "links",
    "NetworkSetupFailed": "endpoint",
    "PortForward": "ports",
    "PortForwardFailed": "ports",
    "PortForwarders": "ports",
    "forwards_path": "ports",
    "read_forwards": "ports",
    "running_forwarders": "ports",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
