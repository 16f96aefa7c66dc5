"""Bridge, network namespaces and veth pairs, through netlink (pyroute2's messages) only.

Every blocking call runs in a worker thread (`trio.to_thread`). A network namespace is
created without pyroute2's `NetNS` (which forks a helper process per socket) and requests
go through `rtnl.Rtnl` rather than `IPRoute` (an asyncio loop per socket): the worker
thread calls unshare(CLONE_NEWNET), which moves only that thread into a fresh namespace,
bind-mounts /proc/thread-self/ns/net onto /run/netns/<name> (as `ip netns add` does),
opens a netlink socket there and setns()-es back. A netlink socket stays bound to the
namespace it was created in, so one opened inside configures that namespace from anywhere.

Namespace membership is per thread and trio reuses its worker threads, so every worker
function first puts its thread back into the host namespace if an earlier call could not.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from berth.adapters.network.endpoint import (
    Endpoint,
    NetworkSetupFailed,
    _check_endpoint,
    _check_ifname,
    _check_ipv4,
    _check_netns_name,
    _check_owner,
    _check_prefix_len,
    check_interface6,
)
from berth.adapters.network.namespaces import NETNS_DIR, Namespaces, open_inside
from berth.adapters.network.rtnl import NetlinkError, Rtnl
from berth.domain.errors import NotFound
from berth.domain.network_pools import mac_address

#: A bridge's alias (IFLA_IFALIAS) names the berth root that made it, so `network prune`
#: finds the bridges of roots that no longer exist; the kernel drops it with the bridge.
OWNER_PREFIX = "berth:"
MAIN_TABLE = 254

_T = TypeVar("_T")


def _ignore(code: int, error: NetlinkError) -> None:
    if error.code != code:
        raise NetworkSetupFailed(f"netlink: {error}") from error


def _split_interface(interface: str) -> tuple[str, int]:
    """An interface's text, "2001:db8::1/64", as ("2001:db8::1", 64)."""
    address, _, length = interface.partition("/")
    return address, int(length)


def _link_kind(link: Any) -> str | None:
    info = link.get_attr("IFLA_LINKINFO")
    return None if info is None else str(info.get_attr("IFLA_INFO_KIND"))


class NetworkLinks:
    """The host's bridges and each container's namespace and veth pair. Idempotent."""

    def __init__(self) -> None:
        self._namespaces = Namespaces()

    def close(self) -> None:
        self._namespaces.close()

    @staticmethod
    def netns_path(netns: str) -> str:
        return str(NETNS_DIR / netns)

    async def ensure_bridge(
        self, name: str, gateway: str, prefix_len: int, *, owner: str = "", gateway6: str = ""
    ) -> None:
        _check_ifname(name)
        _check_ipv4(gateway, "gateway")
        _check_prefix_len(prefix_len)
        _check_owner(owner)
        if gateway6:
            check_interface6(gateway6, "gateway")
        await self._run(self._ensure_bridge, name, gateway, prefix_len, owner, gateway6)

    async def owned_bridges(self) -> dict[str, str]:
        return await self._run(self._owned_bridges)

    async def remove_bridge(self, name: str) -> None:
        _check_ifname(name)
        await self._run(self._remove_bridge, name)

    async def detach_interface(self, host_veth: str) -> None:
        _check_ifname(host_veth)
        await self._run(self._detach_interface, host_veth)

    async def attach(self, endpoint: Endpoint) -> str:
        _check_endpoint(endpoint)
        await self._run(self._attach, endpoint)
        return self.netns_path(endpoint.netns)

    async def detach(self, netns: str, host_veth: str, *, wait: bool = True) -> None:
        """Remove the veth pair and the namespace; idempotent, leaves nothing behind.

        Deleting a veth pair costs the kernel 15-25 ms here (RCU grace periods), whoever
        asks. With `wait=False` only the namespace is unmounted (~0.3 ms): once no process
        is left in it the kernel destroys it and the pair with it, a few tens of ms later,
        in the background. Use it only for a namespace whose processes are gone (`rm` of a
        stopped container); the links are left behind for as long as one is still inside.
        """
        _check_netns_name(netns)
        _check_ifname(host_veth)
        await self._run(self._detach, netns, host_veth, wait)

    async def create_netns(self, netns: str) -> str:
        _check_netns_name(netns)
        await self._run(self._create_netns, netns)
        return self.netns_path(netns)

    async def remove_netns(self, netns: str) -> None:
        _check_netns_name(netns)
        await self._run(self._namespaces.remove, netns)

    async def namespaces(self, prefix: str) -> list[str]:
        def listing() -> list[str]:
            try:
                return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
            except FileNotFoundError:
                return []

        return await trio.to_thread.run_sync(listing)

    async def bridge_ports(self, bridge: str) -> list[str]:
        _check_ifname(bridge)
        return await self._run(self._bridge_ports, bridge)

    async def host_routes(self) -> list[ipaddress.IPv4Network]:
        return await self._run(self._host_routes)

    # -- worker-thread bodies ---------------------------------------------------------

    @staticmethod
    async def _run(body: Callable[..., _T], *args: object) -> _T:
        try:
            return await trio.to_thread.run_sync(body, *args)
        except NetlinkError as error:
            raise NetworkSetupFailed(f"netlink: {error}") from error
        except OSError as error:
            raise NetworkSetupFailed(str(error)) from error

    def _host(self) -> Rtnl:
        self._namespaces.to_host()
        return Rtnl()

    def _owned_bridges(self) -> dict[str, str]:
        with self._host() as host:
            found = {}
            for link in host.links():
                alias = str(link.get_attr("IFLA_IFALIAS") or "")
                if alias.startswith(OWNER_PREFIX) and _link_kind(link) == "bridge":
                    found[str(link.get_attr("IFLA_IFNAME"))] = alias.removeprefix(OWNER_PREFIX)
            return found

    def _ensure_bridge(
        self, name: str, gateway: str, prefix_len: int, owner: str = "", gateway6: str = ""
    ) -> None:
        with self._host() as host:
            if host.link(name) is None:
                try:
                    host.add_link(name, "bridge")
                except NetlinkError as error:  # a concurrent ensure_bridge won the race
                    _ignore(errno.EEXIST, error)
            bridge = host.link(name)
            if bridge is None:
                raise NetworkSetupFailed(f"bridge {name} vanished while being created")
            if _link_kind(bridge) != "bridge":
                raise NetworkSetupFailed(f"link {name} exists and is not a bridge")
            addresses = [(gateway, prefix_len)]
            if gateway6:
                addresses.append(_split_interface(gateway6))
            for address, length in addresses:
                try:
                    host.add_address(bridge["index"], address, length)
                except NetlinkError as error:
                    _ignore(errno.EEXIST, error)
            # A bridge without an address of its own takes its lowest port's, and changes it
            # when that port leaves: the containers' neighbour entries for the gateway would
            # then point nowhere until they expire (dockerd sets one too).
            host.set_link(
                bridge["index"],
                up=True,
                mac=mac_address(gateway),
                alias=OWNER_PREFIX + owner if owner else None,
            )

    def _remove_bridge(self, name: str) -> None:
        with self._host() as host:
            bridge = host.link(name)
            if bridge is None:
                return
            if _link_kind(bridge) != "bridge":
                raise NetworkSetupFailed(f"link {name} is not a bridge; not removing it")
            _delete_link(host, bridge["index"])

    def _create_netns(self, netns: str) -> None:
        self._namespaces.to_host()
        open_inside(self._namespaces, netns, create=True).close()

    def _attach(self, ep: Endpoint) -> None:
        with self._host() as host:
            bridge = host.link_index(ep.bridge)
            if bridge is None:
                raise NotFound(f"bridge {ep.bridge} does not exist")
            with open_inside(self._namespaces, ep.netns, create=True) as inner:
                try:
                    _add_veth(host, ep)
                except NetlinkError as error:
                    _ignore(errno.EEXIST, error)
                    _repair_veth(host, inner, ep)
                veth = host.link_index(ep.host_veth)
                peer = inner.link_index(ep.interface)
                if veth is None or peer is None:
                    raise NetworkSetupFailed(f"veth {ep.host_veth} vanished while being set up")
                host.set_link(veth, master=bridge, up=True)
                inner.set_link(peer, mac=ep.mac, up=True)
                addresses = [(ep.address, ep.prefix_len, False)]
                if ep.address6:
                    addresses.append((ep.address6, ep.prefix6_len, False))
                addresses += [(*_split_interface(i), True) for i in ep.link_local]
                for address, prefix_len, detect in addresses:
                    try:
                        inner.add_address(peer, address, prefix_len, detect_duplicates=detect)
                    except NetlinkError as error:
                        _ignore(errno.EEXIST, error)
                if ep.default_route:
                    inner.replace_default_route(ep.gateway, peer)
                    if ep.gateway6:
                        inner.replace_default_route(ep.gateway6, peer)

    def _detach(self, netns: str, host_veth: str, wait: bool) -> None:
        if not wait:
            self._namespaces.remove(netns)
            return
        self._detach_interface(host_veth)
        self._namespaces.remove(netns)

    def _detach_interface(self, host_veth: str) -> None:
        with self._host() as host:
            veth = host.link(host_veth)
            if veth is None:
                return
            if _link_kind(veth) != "veth":
                raise NetworkSetupFailed(f"link {host_veth} is not a veth; not removing it")
            _delete_link(host, veth["index"])

    def _bridge_ports(self, bridge: str) -> list[str]:
        with self._host() as host:
            index = host.link_index(bridge)
            if index is None:
                return []
            return sorted(
                str(link.get_attr("IFLA_IFNAME"))
                for link in host.links()
                if link.get_attr("IFLA_MASTER") == index
            )

    def _host_routes(self) -> list[ipaddress.IPv4Network]:
        found: set[ipaddress.IPv4Network] = set()
        with self._host() as host:
            for route in host.routes():
                length = route["dst_len"]
                table = route.get_attr("RTA_TABLE") or route["table"]
                if length == 0 or table != MAIN_TABLE:  # the default route collides with nothing
                    continue
                found.add(
                    ipaddress.IPv4Network(f"{route.get_attr('RTA_DST')}/{length}", strict=False)
                )
            for addr in host.addresses():
                interface = ipaddress.IPv4Interface(
                    f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}"
                )
                found.add(interface.network)
        return sorted(found)


def _add_veth(host: Rtnl, ep: Endpoint) -> None:
    """Create the pair with its container end born inside the namespace: one atomic step."""
    fd = os.open(NETNS_DIR / ep.netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        host.add_veth(ep.host_veth, ep.interface, fd, ep.mac)
    finally:
        os.close(fd)


def _repair_veth(host: Rtnl, inner: Rtnl, ep: Endpoint) -> None:
    """A name is taken: keep a complete pair, replace any half of one."""
    veth = host.link(ep.host_veth)
    peer = inner.link(ep.interface)
    if veth is not None and _link_kind(veth) != "veth":
        raise NetworkSetupFailed(f"link {ep.host_veth} exists and is not a veth")
    if veth is not None and peer is not None and peer.get_attr("IFLA_LINK") == veth["index"]:
        return  # the two ends of one pair
    if veth is not None:
        _delete_link(host, veth["index"])
    if peer is not None:
        _delete_link(inner, peer["index"])
    try:
        _add_veth(host, ep)
    except NetlinkError as error:
        raise NetworkSetupFailed(f"creating veth {ep.host_veth}: {error}") from error


def _delete_link(rtnl: Rtnl, index: int) -> None:
    try:
        rtnl.delete_link(index)
    except NetlinkError as error:
        _ignore(errno.ENODEV, error)
