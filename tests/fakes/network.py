"""In-memory `Links` and `Forwarders`: the kernel's links and the forwarders' ports as
dictionaries, checked with the real adapter's rules before anything changes."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from ipaddress import IPv4Interface, IPv4Network, IPv6Interface
from pathlib import Path

import trio

from berth.adapters.network.endpoint import (
    Endpoint,
    _check_endpoint,
    _check_ifname,
    _check_ipv4,
    _check_netns_name,
    _check_owner,
    _check_prefix_len,
    check_interface6,
)
from berth.adapters.network.firewall import check_chain
from berth.adapters.network.links import NETNS_DIR
from berth.adapters.network.ports import PortForward, PortForwardFailed, check_forwards
from berth.domain.errors import NotFound
from berth.domain.firewall_rules import Ruleset

from .faults import Faults

#: Where a host port of 0 is picked from (Linux's ephemeral range begins here).
FIRST_FREE_PORT = 32768


class FakeLinks:
    def __init__(self, routes: Sequence[IPv4Network] = (IPv4Network("192.168.1.0/24"),)) -> None:
        self.faults = Faults()
        self.routes = list(routes)  # the host's own, besides the bridges' subnets
        self.bridges: dict[str, IPv4Interface] = {}
        self.bridges6: dict[str, IPv6Interface] = {}
        self.netns: set[str] = set()
        self.veths: dict[str, Endpoint] = {}  # by host end
        self.owners: dict[str, str] = {}  # bridge -> owner

    async def ensure_bridge(
        self, name: str, gateway: str, prefix_len: int, *, owner: str = "", gateway6: str = ""
    ) -> None:
        _check_ifname(name)
        _check_ipv4(gateway, "gateway")
        _check_prefix_len(prefix_len)
        _check_owner(owner)
        interface6 = check_interface6(gateway6, "gateway") if gateway6 else None
        await self._enter("ensure_bridge")
        self.bridges[name] = IPv4Interface(f"{gateway}/{prefix_len}")
        if interface6 is not None:
            self.bridges6[name] = interface6
        if owner:
            self.owners[name] = owner

    async def owned_bridges(self) -> dict[str, str]:
        await self._enter("owned_bridges")
        return {b: o for b, o in self.owners.items() if b in self.bridges}

    async def remove_bridge(self, name: str) -> None:
        _check_ifname(name)
        await self._enter("remove_bridge")
        self.bridges.pop(name, None)
        self.bridges6.pop(name, None)
        self.veths = {k: e for k, e in self.veths.items() if e.bridge != name}

    async def detach_interface(self, host_veth: str) -> None:
        _check_ifname(host_veth)
        await self._enter("detach_interface")
        self.veths.pop(host_veth, None)

    async def attach(self, endpoint: Endpoint) -> str:
        _check_endpoint(endpoint)
        await self._enter("attach")
        if endpoint.bridge not in self.bridges:
            raise NotFound(f"bridge {endpoint.bridge} does not exist")
        self.netns.add(endpoint.netns)
        self.veths[endpoint.host_veth] = endpoint
        return str(NETNS_DIR / endpoint.netns)

    async def detach(self, netns: str, host_veth: str, *, wait: bool = True) -> None:
        _check_netns_name(netns)
        _check_ifname(host_veth)
        await self._enter("detach")
        self.veths.pop(host_veth, None)
        self.netns.discard(netns)

    async def namespaces(self, prefix: str) -> list[str]:
        await self._enter("namespaces")
        return sorted(name for name in self.netns if name.startswith(prefix))

    async def bridge_ports(self, bridge: str) -> list[str]:
        _check_ifname(bridge)
        await self._enter("bridge_ports")
        return sorted(veth for veth, ep in self.veths.items() if ep.bridge == bridge)

    async def host_routes(self) -> list[IPv4Network]:
        await self._enter("host_routes")
        return sorted({*self.routes, *(bridge.network for bridge in self.bridges.values())})

    async def _enter(self, method: str) -> None:
        await trio.lowlevel.checkpoint()
        self.faults.check(method)


class FakeForwarders:
    def __init__(self) -> None:
        self.faults = Faults()
        self.forwarders: dict[Path, tuple[int, list[PortForward]]] = {}
        self.taken: set[tuple[str, str, int]] = set()  # held by other programs
        self._pids = itertools.count(5000)
        self._changed = trio.Event()

    # -- what a test does -------------------------------------------------------------------

    def occupy(self, host_port: int, protocol: str = "tcp", host_ip: str = "") -> None:
        """Another program holds this port."""
        self.taken.add((protocol, host_ip, host_port))

    def kill(self, pidfile: Path) -> None:
        """The forwarder dies behind the engine's back."""
        del self.forwarders[pidfile.absolute()]
        self._notify()

    # -- the Protocol -------------------------------------------------------------------------

    async def start(
        self, pidfile: Path, forwards: Sequence[PortForward]
    ) -> tuple[int, list[PortForward]]:
        check_forwards(forwards)
        pidfile = pidfile.absolute()
        await trio.lowlevel.checkpoint()
        if pidfile in self.forwarders:
            return self.forwarders[pidfile]
        self.faults.check("start")
        held = self._held()
        bound: list[PortForward] = []
        for forward in forwards:
            port = forward.host_port or self._free_port(forward.protocol, held)
            if _clashes((forward.protocol, forward.host_ip, port), held):
                bind_ip = forward.host_ip or "0.0.0.0"
                raise PortForwardFailed(
                    f"Bind for {bind_ip}:{port} failed: port is already allocated"
                )
            held.add((forward.protocol, forward.host_ip, port))
            bound.append(replace(forward, host_port=port))
        self.forwarders[pidfile] = (next(self._pids), bound)
        return self.forwarders[pidfile]

    async def stop(self, pidfile: Path, pid: int | None = None) -> None:
        await trio.lowlevel.checkpoint()
        self.faults.check("stop")
        if self.forwarders.pop(pidfile.absolute(), None) is not None:
            self._notify()

    def running_pid(self, pidfile: Path) -> int | None:
        running = self.forwarders.get(pidfile.absolute())
        return None if running is None else running[0]

    async def wait_exited(self, pidfile: Path) -> bool:
        await trio.lowlevel.checkpoint()
        pidfile = pidfile.absolute()
        if pidfile not in self.forwarders:
            return False
        while pidfile in self.forwarders:
            await self._changed.wait()
        return True

    def running(self, under: Path) -> dict[Path, int]:
        under = under.absolute()
        return {p: pid for p, (pid, _) in self.forwarders.items() if p.is_relative_to(under)}

    # -- inside ---------------------------------------------------------------------------

    def _held(self) -> set[tuple[str, str, int]]:
        held = set(self.taken)
        for _, bound in self.forwarders.values():
            held |= {(f.protocol, f.host_ip, f.host_port) for f in bound}
        return held

    @staticmethod
    def _free_port(protocol: str, held: set[tuple[str, str, int]]) -> int:
        return next(
            port
            for port in itertools.count(FIRST_FREE_PORT)
            if not any(p == protocol and used == port for p, _, used in held)
        )

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


def _clashes(wanted: tuple[str, str, int], held: set[tuple[str, str, int]]) -> bool:
    """Whether a bind would fail: the same protocol and port, on the same address or with
    either on all addresses ("")."""
    protocol, address, port = wanted
    return any(
        p == protocol and used == port and (a == address or "" in (a, address))
        for p, a, used in held
    )


class FakeFirewall:
    """The chains as a map: what `apply` wrote, by chain."""

    def __init__(self) -> None:
        self.written: dict[str, Ruleset] = {}

    async def apply(self, rules: Ruleset) -> None:
        check_chain(rules.chain)
        await trio.lowlevel.checkpoint()
        self.written[rules.chain] = rules

    async def remove(self, chain: str) -> None:
        check_chain(chain)
        await trio.lowlevel.checkpoint()
        self.written.pop(chain, None)

    async def rules_of(self, chain: str) -> list[str]:
        check_chain(chain)
        rules = self.written.get(chain)
        if rules is None:
            return []
        return [
            *(f"{table}: -A {chain} {' '.join(r)}" for table, body in
              (("filter", rules.filter), ("nat", rules.nat)) for r in body),
            f"filter: -A FORWARD -j {chain}",
            f"nat: -A POSTROUTING -j {chain}",
        ]  # fmt: skip
