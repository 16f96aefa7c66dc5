"""The network adapter against the real kernel: bridge, netns, veth, addresses, routes.

Every name starts with a per-run prefix and the subnet is a random /24 of 10.0.0.0/8 that
the host has no route or address in; the fixture removes whatever a failed test left and
each test asserts that the adapter's own teardown left nothing.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shutil
import string
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from berth.adapters.network import Endpoint, NetworkLinks
from berth.adapters.network.endpoint import NetworkSetupFailed
from berth.adapters.network.links import NETNS_DIR
from berth.domain.errors import InvalidParameter, NotFound
from berth.domain.network_pools import mac_address

BUSYBOX = "/bin/busybox"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or not Path(BUSYBOX).exists(),
    reason="needs root, iproute2 and busybox",
)


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)


def ip_json(*argv: str, netns: str | None = None) -> Any:
    prefix = ("ip", "netns", "exec", netns, "ip") if netns else ("ip",)
    return json.loads(run(*prefix, "-j", *argv).stdout or "[]")


def ping(netns: str, address: str) -> bool:
    result = run("ip", "netns", "exec", netns, BUSYBOX, "ping", "-c1", "-W1", address, check=False)
    return result.returncode == 0


def host_link_names() -> set[str]:
    return {link["ifname"] for link in ip_json("link", "show")}


def netns_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as mountinfo:
        return [line.split()[4] for line in mountinfo if line.split()[4].startswith("/run/netns/")]


@dataclass
class Names:
    """Unique names and a free subnet for one test."""

    prefix: str
    subnet: ipaddress.IPv4Network

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    def endpoint(self, n: int) -> Endpoint:
        address = self.subnet.network_address + 2 + n
        mac = "02:42:" + ":".join(f"{octet:02x}" for octet in address.packed)
        return Endpoint(
            netns=f"{self.prefix}ns{n}",
            bridge=self.bridge,
            host_veth=f"{self.prefix}v{n}",
            address=str(address),
            prefix_len=self.subnet.prefixlen,
            gateway=self.gateway,
            mac=mac,
        )

    def leftovers(self) -> list[str]:
        """Anything of this test's still on the host: links, netns files and mounts,
        addresses or routes in the subnet."""
        found = [f"link {name}" for name in host_link_names() if name.startswith(self.prefix)]
        if NETNS_DIR.exists():
            found += [f"netns {n}" for n in os.listdir(NETNS_DIR) if n.startswith(self.prefix)]
        found += [f"mount {m}" for m in netns_mounts() if Path(m).name.startswith(self.prefix)]
        for link in ip_json("-4", "addr", "show"):
            for info in link.get("addr_info", []):
                if ipaddress.IPv4Address(info["local"]) in self.subnet:
                    found.append(f"address {info['local']} on {link['ifname']}")
        for route in ip_json("-4", "route", "show", "table", "all"):
            dst = route.get("dst", "")
            if dst not in ("default", "") and ipaddress.IPv4Network(dst, strict=False).overlaps(
                self.subnet
            ):
                found.append(f"route {dst}")
        return found

    def clean(self) -> None:
        for name in sorted(host_link_names()):
            if name.startswith(self.prefix) and not name.endswith("br"):
                run("ip", "link", "del", name, check=False)
        run("ip", "link", "del", self.bridge, check=False)
        if NETNS_DIR.exists():
            for name in os.listdir(NETNS_DIR):
                if name.startswith(self.prefix):
                    run("ip", "netns", "del", name, check=False)


def free_subnet() -> ipaddress.IPv4Network:
    links = NetworkLinks()
    try:
        taken = trio.run(links.host_routes)
    finally:
        links.close()
    rng = random.SystemRandom()
    while True:
        subnet = ipaddress.IPv4Network(f"10.{rng.randrange(256)}.{rng.randrange(256)}.0/24")
        if not any(subnet.overlaps(network) for network in taken):
            return subnet


@pytest.fixture
def names() -> Iterator[Names]:
    suffix = "".join(random.choices(string.ascii_lowercase, k=2))
    names = Names(prefix=f"bt{os.getpid() % 10000:04d}{suffix}", subnet=free_subnet())
    try:
        yield names
    finally:
        names.clean()
        assert names.leftovers() == [], "cleanup failed"


@pytest.fixture
def links() -> Iterator[NetworkLinks]:
    links = NetworkLinks()
    yield links
    links.close()


async def test_bridge_is_idempotent_and_its_removal_leaves_nothing(
    links: NetworkLinks, names: Names
) -> None:
    for _ in range(2):
        await links.ensure_bridge(names.bridge, names.gateway, 24)
    (bridge,) = ip_json("-d", "addr", "show", "dev", names.bridge)
    assert bridge["linkinfo"]["info_kind"] == "bridge"
    assert "UP" in bridge["flags"]
    inet = [(a["local"], a["prefixlen"]) for a in bridge["addr_info"] if a["family"] == "inet"]
    assert inet == [(names.gateway, 24)]
    assert names.subnet in await links.host_routes()
    assert await links.bridge_ports(names.bridge) == []

    for _ in range(2):
        await links.remove_bridge(names.bridge)
    assert names.leftovers() == []
    assert names.subnet not in await links.host_routes()


async def test_two_endpoints_ping_each_other_the_gateway_and_the_host_reaches_them(
    links: NetworkLinks, names: Names
) -> None:
    await links.ensure_bridge(names.bridge, names.gateway, 24)
    first, second = names.endpoint(0), names.endpoint(1)
    assert await links.attach(first) == f"/run/netns/{first.netns}"
    assert await links.attach(second) == f"/run/netns/{second.netns}"

    assert ping(first.netns, second.address)
    assert ping(second.netns, first.address)
    assert ping(first.netns, names.gateway)
    assert run(BUSYBOX, "ping", "-c1", "-W1", second.address, check=False).returncode == 0
    assert await links.bridge_ports(names.bridge) == sorted([first.host_veth, second.host_veth])
    assert await links.namespaces(names.prefix) == sorted([first.netns, second.netns])

    inside = {link["ifname"]: link for link in ip_json("addr", "show", netns=first.netns)}
    assert set(inside) == {"lo", "eth0"}
    assert "UP" in inside["lo"]["flags"]
    eth0 = inside["eth0"]
    assert eth0["address"] == first.mac
    assert [(a["local"], a["prefixlen"]) for a in eth0["addr_info"] if a["family"] == "inet"] == [
        (first.address, 24)
    ]
    routes = ip_json("-4", "route", "show", netns=first.netns)
    assert {"dst": "default", "gateway": names.gateway, "dev": "eth0"}.items() <= routes[0].items()

    await links.detach(first.netns, first.host_veth)
    await links.detach(second.netns, second.host_veth)
    await links.remove_bridge(names.bridge)
    assert names.leftovers() == []


async def test_attach_is_idempotent_and_completes_half_done_attaches(
    links: NetworkLinks, names: Names
) -> None:
    await links.ensure_bridge(names.bridge, names.gateway, 24)
    endpoints = [names.endpoint(n) for n in range(6)]
    # 0: attached twice.  1: only its namespace exists.  2: the pair exists, the host end
    # is down and off the bridge, nothing is configured inside.  3: only a host end is
    # left, its peer elsewhere.  4: a namespace file that was never mounted (a crash
    # between creating the file and mounting it).  5: both names exist, but are ends of
    # two different pairs.
    await links.attach(endpoints[0])
    await links.create_netns(endpoints[1].netns)
    await links.create_netns(endpoints[2].netns)
    half = endpoints[2]
    run(
        "ip",
        "link",
        "add",
        half.host_veth,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        half.netns,
    )
    stray = f"{names.prefix}x3"
    run("ip", "link", "add", endpoints[3].host_veth, "type", "veth", "peer", "name", stray)
    NETNS_DIR.joinpath(endpoints[4].netns).touch()
    crossed = endpoints[5]
    await links.create_netns(crossed.netns)
    run("ip", "link", "add", crossed.host_veth, "type", "veth", "peer", "name", f"{names.prefix}x5")
    run("ip", "-n", crossed.netns, "link", "add", "eth0", "type", "veth", "peer", "name", "other")

    for endpoint in endpoints:
        await links.attach(endpoint)
    await links.attach(endpoints[0])

    assert stray not in host_link_names() and f"{names.prefix}x5" not in host_link_names()
    inside = [link["ifname"] for link in ip_json("link", "show", netns=crossed.netns)]
    assert sorted(inside) == ["eth0", "lo"]
    assert await links.bridge_ports(names.bridge) == sorted(e.host_veth for e in endpoints)
    for endpoint in endpoints:
        assert ping(endpoint.netns, names.gateway), endpoint
        eth0 = ip_json("addr", "show", "dev", "eth0", netns=endpoint.netns)[0]
        inet = [a["local"] for a in eth0["addr_info"] if a["family"] == "inet"]
        assert inet == [endpoint.address]
        assert eth0["address"] == endpoint.mac
        assert len(ip_json("-4", "route", "show", "default", netns=endpoint.netns)) == 1
    assert ping(endpoints[1].netns, endpoints[4].address)

    for endpoint in endpoints:
        await links.detach(endpoint.netns, endpoint.host_veth)
    await links.remove_bridge(names.bridge)
    assert names.leftovers() == []


async def test_detach_is_idempotent_and_leaves_nothing_even_for_unknown_names(
    links: NetworkLinks, names: Names
) -> None:
    await links.ensure_bridge(names.bridge, names.gateway, 24)
    endpoint = names.endpoint(0)
    await links.attach(endpoint)
    for _ in range(2):
        await links.detach(endpoint.netns, endpoint.host_veth)
    await links.detach(f"{names.prefix}never", f"{names.prefix}nv")
    assert await links.bridge_ports(names.bridge) == []
    assert await links.namespaces(names.prefix) == []
    await links.remove_bridge(names.bridge)
    assert names.leftovers() == []


async def test_a_name_taken_by_something_else_is_an_error_not_a_takeover(
    links: NetworkLinks, names: Names
) -> None:
    run("ip", "link", "add", names.bridge, "type", "veth", "peer", "name", f"{names.prefix}p")
    with pytest.raises(NetworkSetupFailed, match="not a bridge"):
        await links.ensure_bridge(names.bridge, names.gateway, 24)
    with pytest.raises(NetworkSetupFailed, match="not a bridge"):
        await links.remove_bridge(names.bridge)
    (taken,) = ip_json("addr", "show", "dev", names.bridge)
    assert [a for a in taken["addr_info"] if a["family"] == "inet"] == []
    assert names.bridge in host_link_names()
    run("ip", "link", "del", names.bridge)
    assert names.leftovers() == []


async def test_detach_without_waiting_leaves_the_pair_to_the_dying_namespace(
    links: NetworkLinks, names: Names
) -> None:
    await links.ensure_bridge(names.bridge, names.gateway, 24)
    endpoint = names.endpoint(0)
    await links.attach(endpoint)
    await links.detach(endpoint.netns, endpoint.host_veth, wait=False)
    assert await links.namespaces(names.prefix) == []
    with trio.fail_after(5):  # the kernel destroys the namespace, and the pair, by itself
        while await links.bridge_ports(names.bridge):
            await trio.sleep(0.01)
    await links.detach(endpoint.netns, endpoint.host_veth)
    await links.remove_bridge(names.bridge)
    assert names.leftovers() == []


async def test_parallel_attaches_share_one_bridge(links: NetworkLinks, names: Names) -> None:
    endpoints = [names.endpoint(n) for n in range(8)]

    async def bring_up(endpoint: Endpoint) -> None:
        await links.ensure_bridge(names.bridge, names.gateway, 24)
        await links.attach(endpoint)

    async with trio.open_nursery() as nursery:
        for endpoint in endpoints:
            nursery.start_soon(bring_up, endpoint)
    assert await links.bridge_ports(names.bridge) == sorted(e.host_veth for e in endpoints)
    assert ping(endpoints[0].netns, endpoints[-1].address)

    async with trio.open_nursery() as nursery:
        for endpoint in endpoints:
            nursery.start_soon(links.detach, endpoint.netns, endpoint.host_veth)
    await links.remove_bridge(names.bridge)
    assert names.leftovers() == []


async def test_worker_threads_return_to_the_host_namespace(
    links: NetworkLinks, names: Names
) -> None:
    host = os.stat("/proc/self/ns/net").st_ino
    await links.ensure_bridge(names.bridge, names.gateway, 24)
    endpoint = names.endpoint(0)
    await links.attach(endpoint)
    await links.create_netns(f"{names.prefix}bare")

    def thread_namespace() -> int:
        return os.stat("/proc/thread-self/ns/net").st_ino

    seen = [await trio.to_thread.run_sync(thread_namespace) for _ in range(4)]
    assert seen == [host] * 4
    await links.detach(endpoint.netns, endpoint.host_veth)
    await links.remove_netns(f"{names.prefix}bare")
    await links.remove_bridge(names.bridge)
    assert names.leftovers() == []


async def test_a_bare_namespace_has_only_loopback_up(links: NetworkLinks, names: Names) -> None:
    netns = f"{names.prefix}bare"
    assert await links.create_netns(netns) == NetworkLinks.netns_path(netns)
    assert await links.create_netns(netns) == f"/run/netns/{netns}"
    inside = ip_json("link", "show", netns=netns)
    assert [(link["ifname"], "UP" in link["flags"]) for link in inside] == [("lo", True)]
    assert (
        run("ip", "netns", "exec", netns, BUSYBOX, "ping", "-c1", "-W1", "127.0.0.1").returncode
        == 0
    )
    await links.remove_netns(netns)
    await links.remove_netns(netns)
    assert names.leftovers() == []


async def test_host_routes_has_eth0s_network_and_no_default_route(links: NetworkLinks) -> None:
    routes = await links.host_routes()
    assert ipaddress.IPv4Network("192.0.2.0/24") in routes
    assert ipaddress.IPv4Network("127.0.0.0/8") in routes
    assert ipaddress.IPv4Network("0.0.0.0/0") not in routes


async def test_bad_input_is_refused_and_changes_nothing(links: NetworkLinks, names: Names) -> None:
    good = names.endpoint(0)
    bad_endpoints = [
        Endpoint(**{**vars(good), "host_veth": "x" * 16}),
        Endpoint(**{**vars(good), "netns": "../etc"}),
        Endpoint(**{**vars(good), "address": "192.168.1.2"}),
        Endpoint(**{**vars(good), "address": good.gateway}),
        Endpoint(**{**vars(good), "mac": "02:42:zz:00:00:01"}),
        Endpoint(**{**vars(good), "gateway": "not-an-ip"}),
    ]
    for endpoint in bad_endpoints:
        with pytest.raises(InvalidParameter):
            await links.attach(endpoint)
    with pytest.raises(InvalidParameter):
        await links.ensure_bridge(names.bridge, names.gateway, 0)
    with pytest.raises(InvalidParameter):
        await links.ensure_bridge("b" * 16, names.gateway, 24)
    with pytest.raises(InvalidParameter):
        await links.detach("a/b", good.host_veth)
    with pytest.raises(NotFound):  # the bridge does not exist
        await links.attach(good)
    assert names.leftovers() == []


async def test_the_bridge_keeps_its_address_when_its_lowest_port_leaves(
    links: NetworkLinks, names: Names
) -> None:
    """A bridge takes its lowest port's hardware address unless given one; when that port
    left, the others' neighbour entries for the gateway pointed nowhere."""
    await links.ensure_bridge(names.bridge, names.gateway, 24)
    endpoints = [names.endpoint(n) for n in range(3)]
    for endpoint in endpoints:
        await links.attach(endpoint)
        assert ping(endpoint.netns, names.gateway)
    (bridge,) = ip_json("link", "show", "dev", names.bridge)
    assert bridge["address"] == mac_address(names.gateway)
    lowest = min(
        endpoints, key=lambda e: ip_json("link", "show", "dev", e.host_veth)[0]["address"]
    )
    await links.detach(lowest.netns, lowest.host_veth)
    (bridge,) = ip_json("link", "show", "dev", names.bridge)
    assert bridge["address"] == mac_address(names.gateway)
    for endpoint in endpoints:
        if endpoint is not lowest:
            assert ping(endpoint.netns, names.gateway)
            await links.detach(endpoint.netns, endpoint.host_veth)
    await links.remove_bridge(names.bridge)
