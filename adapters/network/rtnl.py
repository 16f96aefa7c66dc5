"""A synchronous rtnetlink socket: pyroute2's message classes over a plain socket.

pyroute2's `IPRoute` runs every request through an asyncio event loop of its own, which
costs about 0.5 ms of CPU per request and 1.3 ms per socket; attaching a container takes
a dozen requests on two sockets. Here a request is: encode the pyroute2 message, send,
receive and decode with pyroute2's marshal until the kernel's ack or end of dump. The
socket belongs to the network namespace of the thread that creates it, and keeps it.
"""

from __future__ import annotations

import errno
import importlib.util
import ipaddress
import socket
import struct
import sys
import types
from types import TracebackType
from typing import Any


def _without_pyroute2_init() -> None:
    """Make `pyroute2.netlink...` importable without running `pyroute2/__init__.py`.

    That file imports all of pyroute2 (IPDB, NDB, conntrack, asyncio machinery): 22 MB
    of berthd's resident memory and ~120 ms of start-up, for the few message classes
    used here (4 MB). A bare package module in its place lets the submodules load alone;
    if something imported the full package first, it is used as it is.
    """
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.submodule_search_locations is None:
        return  # not installed: the imports below say so
    package = types.ModuleType("pyroute2")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["pyroute2"] = package


_without_pyroute2_init()

from pyroute2.netlink import (  # type: ignore[import-untyped]  # noqa: E402
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_EXCL,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
)
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]  # noqa: E402
from pyroute2.netlink.marshal import Marshal  # type: ignore[import-untyped]  # noqa: E402
from pyroute2.netlink.rtnl import (  # type: ignore[import-untyped]  # noqa: E402
    RTM_DELLINK,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # type: ignore[import-untyped]  # noqa: E402
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg  # type: ignore[import-untyped]  # noqa: E402
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # type: ignore[import-untyped]  # noqa: E402

__all__ = ["NetlinkError", "Rtnl"]

NETLINK_ROUTE = 0
RECEIVE_BUFFER = 1 << 18
RT_TABLE_MAIN = 254
RTPROT_STATIC = 4
RTN_UNICAST = 1
RT_SCOPE_UNIVERSE = 0
IFA_F_NODAD = 0x02

Message = Any  # pyroute2's nlmsg subclasses are untyped

_NLMSG_HEADER = struct.Struct("=IHHII")  # length, type, flags, sequence, port
_NLMSG_ERRNO = struct.Struct("=i")
_IFI_INDEX = struct.Struct("=i")  # after ifi_family, padding and ifi_type


class _Marshal(Marshal):  # type: ignore[misc]  # pyroute2 is untyped
    """pyroute2's decoder for the answers to the requests made here. (Its `MarshalRtnl`
    maps every rtnetlink family and imports its socket machinery with them: asyncio,
    traffic control, 2.7 MB of berthd's resident memory; ADR/0048.)"""

    msg_map = {  # noqa: RUF012  # pyroute2 copies it per instance
        RTM_NEWLINK: ifinfmsg,
        RTM_DELLINK: ifinfmsg,
        RTM_GETLINK: ifinfmsg,
        RTM_NEWADDR: ifaddrmsg,
        RTM_GETADDR: ifaddrmsg,
        RTM_NEWROUTE: rtmsg,
        RTM_GETROUTE: rtmsg,
    }


def _align(length: int) -> int:
    return (length + 3) & ~3


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


class Rtnl:
    """One NETLINK_ROUTE socket; raises pyroute2's NetlinkError with the kernel's errno."""

    def __init__(self) -> None:
        self._socket = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE
        )
        try:
            self._socket.bind((0, 0))
        except BaseException:
            self._socket.close()
            raise
        self._sequence = 0
        self._marshal = _Marshal()

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def request(
        self, message: Message, message_type: int, flags: int = 0, *, dump: bool = False
    ) -> list[Message]:
        """Send one request; return the kernel's answers (a dump's items, a get's link).
        (`dump` is a separate switch: NLM_F_DUMP's bits mean REPLACE|EXCL on a NEW request.)"""
        self._sequence += 1
        header = message["header"]
        header["type"] = message_type
        header["flags"] = NLM_F_REQUEST | flags | (NLM_F_DUMP if dump else NLM_F_ACK)
        header["sequence_number"] = self._sequence
        header["pid"] = 0
        message.encode()
        self._socket.send(message.data)
        answers: list[Message] = []
        while True:
            data = self._socket.recv(RECEIVE_BUFFER)
            for answer in self._marshal.parse(data):
                if answer["header"]["sequence_number"] != self._sequence:
                    continue  # a late answer to an abandoned request
                error = answer["header"].get("error")
                if error is not None:
                    raise error
                if answer["header"]["type"] in (NLMSG_ERROR, NLMSG_DONE):
                    return answers
                answers.append(answer)

    # -- links ----------------------------------------------------------------------------

    def link(self, name: str) -> Message | None:
        message = ifinfmsg()
        message["attrs"] = [("IFLA_IFNAME", name)]
        try:
            (link,) = self.request(message, RTM_GETLINK)
        except NetlinkError as error:
            if error.code == errno.ENODEV:
                return None
            raise
        return link

    def link_index(self, name: str) -> int | None:
        """The index of link `name`, or None. Reads the index straight from the answer's
        header: decoding a whole link message with pyroute2 costs ~0.4 ms."""
        self._sequence += 1
        message = ifinfmsg()
        message["header"].update(
            type=RTM_GETLINK, flags=NLM_F_REQUEST, sequence_number=self._sequence, pid=0
        )
        message["attrs"] = [("IFLA_IFNAME", name)]
        message.encode()
        self._socket.send(message.data)
        while True:
            data = self._socket.recv(RECEIVE_BUFFER)
            offset = 0
            while offset + _NLMSG_HEADER.size <= len(data):
                length, kind, _, sequence, _ = _NLMSG_HEADER.unpack_from(data, offset)
                if sequence == self._sequence:
                    if kind == RTM_NEWLINK:
                        (index,) = _IFI_INDEX.unpack_from(data, offset + _NLMSG_HEADER.size + 4)
                        return int(index)
                    if kind == NLMSG_ERROR:
                        (code,) = _NLMSG_ERRNO.unpack_from(data, offset + _NLMSG_HEADER.size)
                        if -code == errno.ENODEV:
                            return None
                        raise NetlinkError(-code)
                offset += max(_align(length), _NLMSG_HEADER.size)

    def links(self) -> list[Message]:
        return self.request(ifinfmsg(), RTM_GETLINK, dump=True)

    def add_link(self, name: str, kind: str, info_data: list[Any] | None = None) -> None:
        message = ifinfmsg()
        linkinfo: list[Any] = [("IFLA_INFO_KIND", kind)]
        if info_data:
            linkinfo.append(("IFLA_INFO_DATA", {"attrs": info_data}))
        message["attrs"] = [("IFLA_IFNAME", name), ("IFLA_LINKINFO", {"attrs": linkinfo})]
        self.request(message, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)

    def add_veth(self, name: str, peer_name: str, peer_netns_fd: int, peer_mac: str) -> None:
        """A veth pair whose peer is born in the namespace of `peer_netns_fd`."""
        peer = {
            "attrs": [
                ("IFLA_IFNAME", peer_name),
                ("IFLA_NET_NS_FD", peer_netns_fd),
                ("IFLA_ADDRESS", peer_mac),
            ]
        }
        self.add_link(name, "veth", [("VETH_INFO_PEER", peer)])

    def set_link(
        self,
        index: int,
        *,
        up: bool | None = None,
        master: int | None = None,
        mac: str | None = None,
        alias: str | None = None,
    ) -> None:
        message = ifinfmsg()
        message["index"] = index
        attrs: list[Any] = []
        if up is not None:
            message["change"] = IFF_UP
            message["flags"] = IFF_UP if up else 0
        if master is not None:
            attrs.append(("IFLA_MASTER", master))
        if mac is not None:
            attrs.append(("IFLA_ADDRESS", mac))
        if alias is not None:
            attrs.append(("IFLA_IFALIAS", alias))
        message["attrs"] = attrs
        self.request(message, RTM_NEWLINK)

    def delete_link(self, index: int) -> None:
        message = ifinfmsg()
        message["index"] = index
        self.request(message, RTM_DELLINK)

    # -- addresses and routes -------------------------------------------------------------

    def add_address(
        self, index: int, address: str, prefix_len: int, *, detect_duplicates: bool = False
    ) -> None:
        """As libnetwork's (through vishvananda/netlink): an IPv4 address with its
        broadcast address; an IPv6 one usable at once, without duplicate address
        detection, unless asked for (a `--link-local-ip`)."""
        message = ifaddrmsg()
        message["family"] = _family(address)
        attrs = [("IFA_LOCAL", address), ("IFA_ADDRESS", address)]
        if message["family"] == socket.AF_INET6 and not detect_duplicates:
            message["flags"] = IFA_F_NODAD
        elif message["family"] == socket.AF_INET and prefix_len < 31:
            network = ipaddress.IPv4Network(f"{address}/{prefix_len}", strict=False)
            attrs.append(("IFA_BROADCAST", str(network.broadcast_address)))
        message["prefixlen"] = prefix_len
        message["index"] = index
        message["attrs"] = attrs
        self.request(message, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)

    def addresses(self) -> list[Message]:
        message = ifaddrmsg()
        message["family"] = socket.AF_INET
        return self.request(message, RTM_GETADDR, dump=True)

    def replace_default_route(self, gateway: str, index: int) -> None:
        message = rtmsg()
        message["family"] = _family(gateway)
        message["table"] = RT_TABLE_MAIN
        message["proto"] = RTPROT_STATIC
        message["scope"] = RT_SCOPE_UNIVERSE
        message["type"] = RTN_UNICAST
        message["attrs"] = [("RTA_GATEWAY", gateway), ("RTA_OIF", index)]
        self.request(message, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE)

    def routes(self) -> list[Message]:
        message = rtmsg()
        message["family"] = socket.AF_INET
        return self.request(message, RTM_GETROUTE, dump=True)
