"""The `Links` and `Forwarders` contracts (adapters/network/protocol.py), for the fakes and
for netlink and the forwarder processes."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import socket
import string
from collections.abc import AsyncIterator, Iterator
from ipaddress import IPv4Network
from pathlib import Path

import pytest
import trio
import trio.testing

from berth.adapters.network import (
    Endpoint,
    Forwarders,
    Links,
    NetworkLinks,
    PortForward,
    PortForwarders,
)
from berth.adapters.network.ports import PortForwardFailed
from berth.domain.errors import InvalidParameter, NotFound

from ..adapters.test_network_links import Names, free_subnet
from ..fakes.network import FakeForwarders, FakeLinks
from .conftest import IMPLEMENTATIONS, needs

# -- links -------------------------------------------------------------------------------


@pytest.fixture(params=IMPLEMENTATIONS)
def links(request: pytest.FixtureRequest) -> Iterator[tuple[Links, Names]]:
    if request.param == "fake":
        yield FakeLinks(), Names("fk", IPv4Network("10.99.1.0/24"))
        return
    needs(root=True)
    suffix = "".join(random.choices(string.ascii_lowercase, k=2))
    names = Names(f"bc{os.getpid() % 10000:04d}{suffix}", free_subnet())
    real = NetworkLinks()
    try:
        yield real, names
    finally:
        real.close()
        names.clean()
        assert names.leftovers() == []


async def test_a_bridge_is_made_once_and_its_subnet_is_then_taken(
    links: tuple[Links, Names],
) -> None:
    adapter, names = links
    for _ in range(2):
        await adapter.ensure_bridge(names.bridge, names.gateway, 24)
    assert names.subnet in await adapter.host_routes()
    assert await adapter.bridge_ports(names.bridge) == []


async def test_an_endpoint_is_attached_and_detached_idempotently(
    links: tuple[Links, Names],
) -> None:
    adapter, names = links
    await adapter.ensure_bridge(names.bridge, names.gateway, 24)
    first, second = names.endpoint(0), names.endpoint(1)
    for _ in range(2):
        assert await adapter.attach(first) == f"/run/netns/{first.netns}"
    await adapter.attach(second)
    assert await adapter.namespaces(names.prefix) == sorted([first.netns, second.netns])
    assert await adapter.bridge_ports(names.bridge) == sorted([first.host_veth, second.host_veth])
    for _ in range(2):
        await adapter.detach(first.netns, first.host_veth)
    assert await adapter.namespaces(names.prefix) == [second.netns]
    assert await adapter.bridge_ports(names.bridge) == [second.host_veth]
    await adapter.detach(second.netns, second.host_veth)
    assert await adapter.namespaces(names.prefix) == []


async def test_ipv6_addresses_are_checked_before_anything_is_made(
    links: tuple[Links, Names],
) -> None:
    adapter, names = links
    with pytest.raises(InvalidParameter):
        await adapter.ensure_bridge(names.bridge, names.gateway, 24, gateway6="fd00::1")
    assert await adapter.bridge_ports(names.bridge) == []
    for _ in range(2):  # idempotent with an IPv6 address too
        await adapter.ensure_bridge(names.bridge, names.gateway, 24, gateway6="fd00:b::1/64")
    endpoint = dataclasses.replace(
        names.endpoint(0), address6="fd00:b::2", prefix6_len=64, gateway6="fd00:c::1"
    )
    with pytest.raises(InvalidParameter):  # a gateway outside the prefix
        await adapter.attach(endpoint)
    assert await adapter.namespaces(names.prefix) == []
    with_six = dataclasses.replace(
        endpoint, gateway6="fd00:b::1", link_local=("169.254.8.8/16", "fe80::8/64")
    )
    for _ in range(2):
        await adapter.attach(with_six)
    assert await adapter.bridge_ports(names.bridge) == [with_six.host_veth]
    await adapter.detach(with_six.netns, with_six.host_veth)


async def test_a_bridge_keeps_its_owner_until_it_goes(links: tuple[Links, Names]) -> None:
    adapter, names = links
    await adapter.ensure_bridge(names.bridge, names.gateway, 24, owner="/srv/berth-root")
    assert (await adapter.owned_bridges()).get(names.bridge) == "/srv/berth-root"
    await adapter.remove_bridge(names.bridge)
    assert names.bridge not in await adapter.owned_bridges()
    with pytest.raises(InvalidParameter):
        await adapter.ensure_bridge(names.bridge, names.gateway, 24, owner="x" * 201)


async def test_one_interface_leaves_a_namespace_and_a_bridge_goes_with_its_ports(
    links: tuple[Links, Names],
) -> None:
    adapter, names = links
    await adapter.ensure_bridge(names.bridge, names.gateway, 24)
    first = names.endpoint(0)
    second = dataclasses.replace(
        names.endpoint(1),
        netns=first.netns,
        interface="eth1",
        default_route=False,
    )
    await adapter.attach(first)
    await adapter.attach(second)
    assert await adapter.bridge_ports(names.bridge) == sorted([first.host_veth, second.host_veth])
    for _ in range(2):
        await adapter.detach_interface(second.host_veth)
    assert await adapter.bridge_ports(names.bridge) == [first.host_veth]
    assert await adapter.namespaces(names.prefix) == [first.netns]
    for _ in range(2):
        await adapter.remove_bridge(names.bridge)
    assert await adapter.bridge_ports(names.bridge) == []
    assert names.subnet not in await adapter.host_routes()
    await adapter.detach(first.netns, first.host_veth)
    assert await adapter.namespaces(names.prefix) == []


async def test_an_endpoint_needs_its_bridge(links: tuple[Links, Names]) -> None:
    adapter, names = links
    with pytest.raises(NotFound, match=f"bridge {names.bridge} does not exist"):
        await adapter.attach(names.endpoint(0))
    assert await adapter.namespaces(names.prefix) == []
    assert await adapter.bridge_ports(names.bridge) == []


async def test_names_and_addresses_are_checked_before_anything_changes(
    links: tuple[Links, Names],
) -> None:
    adapter, names = links
    good = names.endpoint(0)
    bad_endpoints = [
        Endpoint(**{**vars(good), "netns": "../escape"}),
        Endpoint(**{**vars(good), "host_veth": "a-name-much-too-long-for-linux"}),
        Endpoint(**{**vars(good), "address": "10.0.0.300"}),
        Endpoint(**{**vars(good), "mac": "not a mac"}),
    ]
    for endpoint in bad_endpoints:
        with pytest.raises(InvalidParameter):
            await adapter.attach(endpoint)
    with pytest.raises(InvalidParameter):
        await adapter.ensure_bridge("bad/name", names.gateway, 24)
    with pytest.raises(InvalidParameter):
        await adapter.ensure_bridge(names.bridge, names.gateway, 33)
    with pytest.raises(InvalidParameter):
        await adapter.detach("../escape", good.host_veth)
    assert await adapter.namespaces(names.prefix) == []


# -- forwarders ----------------------------------------------------------------------------


class ForwardersSubject:
    def __init__(self, adapter: Forwarders, directory: Path) -> None:
        self.adapter = adapter
        self.pidfile = directory / "c1" / "ports.pid"
        self.directory = directory
        self.held: list[socket.socket] = []

    def occupy(self, port: int) -> None:
        """Another program listens on 127.0.0.1:port."""
        if isinstance(self.adapter, FakeForwarders):
            self.adapter.occupy(port, host_ip="127.0.0.1")
            return
        listener = socket.create_server(("127.0.0.1", port))
        self.held.append(listener)

    def kill(self, pid: int) -> None:
        """The forwarder dies behind the engine's back."""
        if isinstance(self.adapter, FakeForwarders):
            self.adapter.kill(self.pidfile)
        else:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(params=IMPLEMENTATIONS)
async def forwarders(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ForwardersSubject]:
    adapter: Forwarders = FakeForwarders() if request.param == "fake" else PortForwarders()
    subject = ForwardersSubject(adapter, tmp_path)
    try:
        yield subject
    finally:
        for listener in subject.held:
            listener.close()
        for pidfile in adapter.running(tmp_path):
            await adapter.stop(pidfile)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def to_container(host_port: int = 0, protocol: str = "tcp") -> PortForward:
    return PortForward(protocol, "127.0.0.1", host_port, "10.99.1.2", 80)


async def test_a_forwarder_starts_once_and_says_what_it_bound(
    forwarders: ForwardersSubject,
) -> None:
    adapter, pidfile = forwarders.adapter, forwarders.pidfile
    wanted = free_port()
    pid, bound = await adapter.start(pidfile, [to_container(), to_container(wanted, "udp")])
    assert [(f.protocol, f.host_ip) for f in bound] == [("tcp", "127.0.0.1"), ("udp", "127.0.0.1")]
    assert bound[0].host_port != 0 and bound[1].host_port == wanted
    assert adapter.running_pid(pidfile) == pid
    assert await adapter.start(pidfile, [to_container()]) == (pid, bound)
    assert adapter.running(forwarders.directory) == {pidfile: pid}
    for _ in range(2):
        await adapter.stop(pidfile)
    assert adapter.running_pid(pidfile) is None
    assert adapter.running(forwarders.directory) == {}


async def test_a_port_another_program_holds_is_dockers_error_and_starts_nothing(
    forwarders: ForwardersSubject,
) -> None:
    port = free_port()
    forwarders.occupy(port)
    with pytest.raises(PortForwardFailed) as raised:
        await forwarders.adapter.start(forwarders.pidfile, [to_container(port)])
    assert raised.value.message == f"Bind for 127.0.0.1:{port} failed: port is already allocated"
    assert forwarders.adapter.running_pid(forwarders.pidfile) is None
    assert forwarders.adapter.running(forwarders.directory) == {}


async def test_waiting_for_a_forwarder_ends_when_it_dies(forwarders: ForwardersSubject) -> None:
    adapter = forwarders.adapter
    assert await adapter.wait_exited(forwarders.pidfile) is False
    pid, _ = await adapter.start(forwarders.pidfile, [to_container()])
    ended: list[bool] = []

    async def wait() -> None:
        ended.append(await adapter.wait_exited(forwarders.pidfile))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        await trio.testing.wait_all_tasks_blocked()
        forwarders.kill(pid)
    assert ended == [True]
    assert adapter.running_pid(forwarders.pidfile) is None


@pytest.mark.parametrize(
    "bad",
    [
        PortForward("sctp", "", 0, "10.99.1.2", 80),
        PortForward("tcp", "localhost", 0, "10.99.1.2", 80),
        PortForward("tcp", "", 70000, "10.99.1.2", 80),
        PortForward("tcp", "", 0, "10.99.1.2", 0),
    ],
    ids=["protocol", "host ip", "host port", "container port"],
)
async def test_forwards_are_checked_before_anything_starts(
    forwarders: ForwardersSubject, bad: PortForward
) -> None:
    with pytest.raises(InvalidParameter):
        await forwarders.adapter.start(forwarders.pidfile, [to_container(), bad])
    with pytest.raises(InvalidParameter, match="no ports to forward"):
        await forwarders.adapter.start(forwarders.pidfile, [])
    assert forwarders.adapter.running_pid(forwarders.pidfile) is None
