"""What the service may rely on from the network adapter: `Links` and `Forwarders`.

The real ones are `links.NetworkLinks` (netlink: a bridge, a namespace and a veth pair
per container) and `ports.PortForwarders` (one forwarder process per container);
tests/fakes/network.py keeps the same promises in memory, and
tests/contracts/test_network_contract.py holds both to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the package loads lazily (see __init__); so does this module
    from berth.domain.firewall_rules import Ruleset

    from .endpoint import Endpoint
    from .ports import PortForward


class Links(Protocol):
    """The host's bridges and each container's namespace and veth pair.

    Everything lives in the kernel and survives the engine: after a crash, `namespaces`
    and `bridge_ports` show what is there, and every method may be repeated. Names
    (interfaces up to 15 characters, namespaces of `[A-Za-z0-9][A-Za-z0-9_.-]*`) and
    addresses are checked before anything is changed: a bad one is `InvalidParameter`.
    A change the kernel refuses is `NetworkSetupFailed` (500).
    """

    async def ensure_bridge(
        self, name: str, gateway: str, prefix_len: int, *, owner: str = "", gateway6: str = ""
    ) -> None:
        """The bridge exists, is up and holds `gateway/prefix_len` (and `gateway6`, an
        IPv6 address with its prefix: "2001:db8::1/64"); idempotent. `owner` (a berth
        root's path, 200 characters at most) is kept with it (`owned_bridges`)."""
        ...

    async def owned_bridges(self) -> dict[str, str]:
        """Every bridge made with an owner, by name: its owner."""
        ...

    async def remove_bridge(self, name: str) -> None:
        """The bridge is gone (its ports with it); idempotent. A link of that name that is
        not a bridge is left alone: `NetworkSetupFailed`."""
        ...

    async def attach(self, endpoint: Endpoint) -> str:
        """The endpoint's namespace (with loopback up), its veth pair (the host end on
        the bridge, the other in the namespace as eth0 with the addresses, MAC and default
        routes) exist; answers the namespace's path. Idempotent, and it repairs a pair
        half set up. `NotFound` if the bridge does not exist."""
        ...

    async def detach(self, netns: str, host_veth: str, *, wait: bool = True) -> None:
        """The veth pair and the namespace are gone; idempotent. With `wait=False` only
        the namespace is removed and the kernel drops the pair once no process is left
        in it (for a namespace whose processes are gone)."""
        ...

    async def detach_interface(self, host_veth: str) -> None:
        """One veth pair is gone (its other end from whatever namespace it is in), the
        namespace stays: a running container leaves one network. Idempotent."""
        ...

    async def namespaces(self, prefix: str) -> list[str]:
        """The names of the namespaces that start with `prefix`, sorted."""
        ...

    async def bridge_ports(self, bridge: str) -> list[str]:
        """The interfaces attached to `bridge` ([] if there is no such bridge)."""
        ...

    async def host_routes(self) -> list[IPv4Network]:
        """The host's IPv4 routes (to choose a bridge subnet that collides with none)."""
        ...


class Forwarders(Protocol):
    """Published ports: one forwarder per container, named by its pidfile.

    A forwarder outlives the engine; its pidfile (and the forwards actually bound, kept
    beside it) lets a new engine find, restart or stop it. Forwards are checked before
    anything starts (protocol, addresses, ports): a bad one is `InvalidParameter`.
    """

    async def start(
        self, pidfile: Path, forwards: Sequence[PortForward]
    ) -> tuple[int, list[PortForward]]:
        """Bind every host port and forward it; answers the forwarder's pid and the
        forwards with the host ports actually bound (a host port of 0 picks a free one).
        Idempotent: a forwarder already running for `pidfile` answers as it is. A host
        port that cannot be had is `PortForwardFailed` with Docker's words ("Bind for
        0.0.0.0:8080 failed: port is already allocated") and leaves nothing running."""
        ...

    async def stop(self, pidfile: Path, pid: int | None = None) -> None:
        """The forwarder of `pidfile` (or the one with `pid`, found by `running`, if the
        pidfile is lost) is gone and its files removed; idempotent."""
        ...

    def running_pid(self, pidfile: Path) -> int | None:
        """The pid of the live forwarder of `pidfile`, or None."""
        ...

    async def wait_exited(self, pidfile: Path) -> bool:
        """Until the forwarder of `pidfile` exits, however it ends: True then; False at
        once if none runs."""
        ...

    def running(self, under: Path) -> dict[Path, int]:
        """Every live forwarder whose pidfile lies under `under`, by pidfile: found by
        looking at the forwarders themselves, so also those whose pidfile was lost."""
        ...


class Firewall(Protocol):
    """One berth root's packet filter rules (domain/firewall_rules.py says which)."""

    async def apply(self, rules: Ruleset) -> None:
        """The root's chains hold exactly `rules` and are jumped to; forwarding is on.
        Idempotent; a chain name that is not `BERTH-` and 8 hex digits is
        `InvalidParameter`."""
        ...

    async def remove(self, chain: str) -> None:
        """No rule of the root's chain is left in any table; idempotent."""
        ...

    async def rules_of(self, chain: str) -> list[str]:
        """Every rule naming the chain (its jumps and its rules), `table: -A ...`."""
        ...
