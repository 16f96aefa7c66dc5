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

import contextlib
import ctypes
import errno
import ipaddress
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
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
    _libc_call,
)
from berth.adapters.network.rtnl import NetlinkError, Rtnl
from berth.domain.errors import NotFound
from berth.domain.network_pools import mac_address

NETNS_DIR = Path("/run/netns")
#: A bridge's alias (IFLA_IFALIAS) names the berth root that made it, so `network prune`
#: finds the bridges of roots that no longer exist; the kernel drops it with the bridge.
OWNER_PREFIX = "berth:"
MAIN_TABLE = 254
#: The kernel gives loopback index 1 in every network namespace.
LOOPBACK_INDEX = 1

_CLONE_NEWNET = 0x40000000
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_SHARED = 0x100000
_MNT_DETACH = 2

_T = TypeVar("_T")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def _ignore(code: int, error: NetlinkError) -> None:
    if error.code != code:
        raise NetworkSetupFailed(f"netlink: {error}") from error


def _link_kind(link: Any) -> str | None:
    info = link.get_attr("IFLA_LINKINFO")
    return None if info is None else str(info.get_attr("IFLA_INFO_KIND"))


class _Namespaces:
    """Host-namespace bookkeeping for the worker threads of one NetworkLinks."""

    def __init__(self) -> None:
        self.host_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        host = os.fstat(self.host_fd)
        self.host_inode = host.st_ino
        self.nsfs_dev = host.st_dev
        self._run_dir_ready = False
        self._lock = threading.Lock()

    def close(self) -> None:
        os.close(self.host_fd)

    def to_host(self) -> None:
        """Put the calling thread back into the host namespace if it is elsewhere."""
        if os.stat("/proc/thread-self/ns/net").st_ino != self.host_inode:
            _libc_call(_libc.setns(self.host_fd, _CLONE_NEWNET), "setns to host")

    def is_mounted(self, path: Path) -> bool:
        try:
            return os.stat(path).st_dev == self.nsfs_dev
        except FileNotFoundError:
            return False

    def prepare_run_dir(self) -> None:
        # As iproute2: /run/netns is a shared mount, so unmounting a namespace file also
        # unmounts the copies other mount namespaces made of it and the namespace can die.
        with self._lock:
            if self._run_dir_ready:
                return
            NETNS_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
            target = bytes(NETNS_DIR)
            if _libc.mount(b"none", target, None, _MS_SHARED | _MS_REC, None) != 0:
                if ctypes.get_errno() != errno.EINVAL:
                    _libc_call(-1, "make /run/netns shared")
                _libc_call(
                    _libc.mount(target, target, b"none", _MS_BIND | _MS_REC, None),
                    "bind /run/netns",
                )
                _libc_call(
                    _libc.mount(b"none", target, None, _MS_SHARED | _MS_REC, None),
                    "make /run/netns shared",
                )
            self._run_dir_ready = True

    @contextlib.contextmanager
    def inside(self, name: str, *, create: bool) -> Iterator[bool]:
        """Run the body in the namespace `name`; yields whether it was created just now."""
        path = NETNS_DIR / name
        created = False
        if self.is_mounted(path):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _libc_call(_libc.setns(fd, _CLONE_NEWNET), f"setns {name}")
            finally:
                os.close(fd)
        elif not create:
            raise NotFound(f"network namespace {name} does not exist")
        else:
            self.prepare_run_dir()
            # A file left by a half-done create (crash between open and mount) is reused.
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444))
            _libc_call(_libc.unshare(_CLONE_NEWNET), "unshare")
            created = True
        try:
            if created:
                mounted = _libc.mount(
                    b"/proc/thread-self/ns/net", bytes(path), b"none", _MS_BIND, None
                )
                if mounted != 0:
                    code = ctypes.get_errno()
                    with contextlib.suppress(OSError):
                        path.unlink()
                    raise OSError(code, f"mount {path}: {os.strerror(code)}")
            yield created
        finally:
            _libc_call(_libc.setns(self.host_fd, _CLONE_NEWNET), "setns to host")

    def remove(self, name: str) -> None:
        path = NETNS_DIR / name
        while self.is_mounted(path):
            if _libc.umount2(bytes(path), _MNT_DETACH) != 0:
                code = ctypes.get_errno()
                if code not in (errno.EINVAL, errno.ENOENT):
                    _libc_call(-1, f"umount {path}")
                break
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _open_inside(namespaces: _Namespaces, name: str, *, create: bool) -> Rtnl:
    with namespaces.inside(name, create=create):
        rtnl = Rtnl()
    try:
        rtnl.set_link(LOOPBACK_INDEX, up=True)
    except BaseException:
        rtnl.close()
        raise
    return rtnl


class NetworkLinks:
    """The host's bridges and each container's namespace and veth pair. Idempotent."""

    def __init__(self) -> None:
        self._namespaces = _Namespaces()

    def close(self) -> None:
        self._namespaces.close()

    @staticmethod
    def netns_path(netns: str) -> str:
        return str(NETNS_DIR / netns)

    async def ensure_bridge(
        self, name: str, gateway: str, prefix_len: int, *, owner: str = ""
    ) -> None:
        _check_ifname(name)
        _check_ipv4(gateway, "gateway")
        _check_prefix_len(prefix_len)
        _check_owner(owner)
        await self._run(self._ensure_bridge, name, gateway, prefix_len, owner)

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

    def _ensure_bridge(self, name: str, gateway: str, prefix_len: int, owner: str = "") -> None:
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
            try:
                host.add_address(bridge["index"], gateway, prefix_len)
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
        _open_inside(self._namespaces, netns, create=True).close()

    def _attach(self, ep: Endpoint) -> None:
        with self._host() as host:
            bridge = host.link_index(ep.bridge)
            if bridge is None:
                raise NotFound(f"bridge {ep.bridge} does not exist")
            with _open_inside(self._namespaces, ep.netns, create=True) as inner:
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
                try:
                    inner.add_address(peer, ep.address, ep.prefix_len)
                except NetlinkError as error:
                    _ignore(errno.EEXIST, error)
                if ep.default_route:
                    inner.replace_default_route(ep.gateway, peer)

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
