"""Docker's network modes for real: a bridge, namespaces, veths and published ports.

Traffic goes only to 127.0.0.1 and to the namespaces these tests' containers get.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import trio

from berth.adapters.logs import read_log
from berth.domain.errors import BerthError, Conflict
from berth.runtime.service.network_files import network_id_of

from ..conftest import API
from ..fixtures.network import network_leftovers
from .conftest import Stack

pytestmark = pytest.mark.slow
HTTPD = "mkdir -p /www && echo hello-from-httpd > /www/index.html && exec httpd -f -p 80 -h /www"


def output(stack: Stack, cid: str) -> str:
    return b"\n".join(line.text for line in read_log(stack.runner.log_path(cid))).decode()


async def run_to_exit(stack: Stack, *cmd: str, **extra: Any) -> tuple[int, str]:
    cid = await stack.run(*cmd, **extra)
    with trio.fail_after(30):
        code = await stack.runner.wait(cid)
    return code, output(stack, cid)


def settings(stack: Stack, cid: str) -> dict[str, Any]:
    found: dict[str, Any] = stack.engine.inspect_container(cid)["NetworkSettings"]
    return found


async def run_published_httpd(stack: Stack) -> str:
    """busybox httpd on port 80, published on 127.0.0.1 at a port the kernel picks."""
    return await stack.run(
        "sh",
        "-c",
        HTTPD,
        ExposedPorts={"80/tcp": {}},
        HostConfig={"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}},
    )


async def wait_http(url: str) -> str:
    """GET `url` once the server inside the container listens (it takes a moment)."""

    def get() -> str:
        with urllib.request.urlopen(url, timeout=2) as response:
            text: str = response.read().decode()
            return text

    with trio.fail_after(15):
        while True:
            try:
                return await trio.to_thread.run_sync(get)
            except OSError:
                await trio.sleep(0.1)


async def test_a_bridge_container_has_docker_network_settings_and_files(stack: Stack) -> None:
    cid = await stack.run("sleep", "30", name="web", Hostname="box")
    net = settings(stack, cid)
    address = ipaddress.IPv4Address(net["IPAddress"])
    subnet = ipaddress.IPv4Network(f"{net['Gateway']}/{net['IPPrefixLen']}", strict=False)
    assert address in subnet and str(address) != net["Gateway"]
    assert net["MacAddress"] == "02:42:" + ":".join(f"{b:02x}" for b in address.packed)
    bridge = net["Networks"]["bridge"]
    assert bridge["IPAddress"] == net["IPAddress"]
    assert bridge["NetworkID"] == network_id_of("bridge")
    assert net["SandboxKey"].startswith("/run/netns/")
    code, text = await run_to_exit(
        stack, "sh", "-c", "cat /etc/hostname /etc/hosts; ip -o -4 addr show eth0"
    )
    assert code == 0
    assert "127.0.0.1\tlocalhost" in text
    other = next(line for line in text.splitlines() if "inet " in line)
    assert f"/{net['IPPrefixLen']}" in other
    doc = stack.engine.inspect_container(cid)
    hosts = Path(doc["HostsPath"]).read_text()
    assert f"{net['IPAddress']}\tbox" in hosts
    events = [e.name for e in stack.engine.history(cid)]
    assert events.index("NetworkConnected") < events.index("Started")


async def test_two_containers_ping_each_other_and_the_gateway(stack: Stack) -> None:
    first = await stack.run("sleep", "30")
    target = settings(stack, first)
    code, text = await run_to_exit(
        stack,
        "sh",
        "-c",
        f"ping -c1 -W2 {target['IPAddress']} && ping -c1 -W2 {target['Gateway']}",
    )
    assert code == 0, text
    assert text.count("1 packets received") == 2


async def test_the_host_reaches_httpd_by_address_and_through_a_published_port(
    stack: Stack,
) -> None:
    cid = await run_published_httpd(stack)
    net = settings(stack, cid)
    assert await wait_http(f"http://{net['IPAddress']}/") == "hello-from-httpd\n"
    (binding,) = net["Ports"]["80/tcp"]
    assert binding["HostIp"] == "127.0.0.1" and int(binding["HostPort"]) > 0
    assert await wait_http(f"http://127.0.0.1:{binding['HostPort']}/") == "hello-from-httpd\n"
    (entry,) = [e for e in stack.engine.list_containers() if e["Id"] == cid]
    assert entry["Ports"] == [
        {
            "IP": "127.0.0.1",
            "PrivatePort": 80,
            "PublicPort": int(binding["HostPort"]),
            "Type": "tcp",
        }
    ]
    await stack.runner.stop(cid, API, timeout=1)
    after = settings(stack, cid)
    assert after["IPAddress"] == "" and after["Ports"] == {}
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(binding["HostPort"])), timeout=1).close()


async def test_a_taken_host_port_is_refused_at_start_with_docker_message(stack: Stack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        created = await stack.runner.create(
            stack.body(
                "sleep",
                "30",
                ExposedPorts={"80/tcp": {}},
                HostConfig={
                    "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
                },
            ),
            "clash",
            API,
        )
        with pytest.raises(BerthError) as refused:
            await stack.runner.start(created.id, API)
    assert refused.value.message.startswith(
        "driver failed programming external connectivity on endpoint clash ("
    )
    assert refused.value.message.endswith(
        f"Bind for 127.0.0.1:{port} failed: port is already allocated"
    )
    doc = stack.engine.inspect_container(created.id)
    assert doc["State"]["Status"] == "created"
    network = stack.engine.get_aggregate(network_id_of("bridge"))
    assert created.id not in network.allocations
    assert network_leftovers(stack.root, bridge_too=False) == []


async def test_none_has_only_loopback(stack: Stack) -> None:
    code, text = await run_to_exit(
        stack, "ls", "/sys/class/net", HostConfig={"NetworkMode": "none"}
    )
    assert code == 0
    assert text.split() == ["lo"]


async def test_host_sees_the_host_links(stack: Stack) -> None:
    before = {name for _, name in socket.if_nameindex()}
    code, text = await run_to_exit(
        stack, "cat", "/proc/net/dev", HostConfig={"NetworkMode": "host"}
    )
    assert code == 0
    # Those there before and after: other tests' links come and go meanwhile.
    host_links = before & {name for _, name in socket.if_nameindex()}
    seen = {line.split(":")[0].strip() for line in text.splitlines() if ":" in line}
    assert host_links <= seen


async def test_container_mode_shares_the_other_container_namespace(stack: Stack) -> None:
    server = await stack.run("sh", "-c", HTTPD.replace("-p 80", "-p 8080"), name="server")
    net = settings(stack, server)
    await wait_http(f"http://{net['IPAddress']}:8080/")
    code, text = await run_to_exit(
        stack,
        "sh",
        "-c",
        "wget -qO- http://127.0.0.1:8080/ && ip -o -4 addr show eth0",
        HostConfig={"NetworkMode": "container:server"},
    )
    assert code == 0, text
    assert "hello-from-httpd" in text and net["IPAddress"] in text


async def test_joining_a_container_that_does_not_run_is_refused(stack: Stack) -> None:
    stopped = await stack.runner.create(stack.body("true"), "stopped", API)
    joiner = await stack.runner.create(
        stack.body("true", HostConfig={"NetworkMode": "container:stopped"}), None, API
    )
    with pytest.raises(Conflict, match="cannot join network of a non running container"):
        await stack.runner.start(joiner.id, API)
    assert stack.engine.inspect_container(stopped.id)["State"]["Status"] == "created"


def live_overlaps(stack: Stack) -> list[str]:
    """Replay the bridge network's log: an address held by two containers at once."""
    holders: dict[str, str] = {}
    problems = []
    for event in stack.engine.store.aggregate_log(network_id_of("bridge")):
        if event.name == "AddressAllocated":
            address = event.data["address"]
            if address in holders:
                problems.append(f"{address} given to {event.data['container_id']} too")
            holders[address] = event.data["container_id"]
        elif event.name == "AddressReleased":
            del holders[event.data["address"]]
    return problems


async def test_sixty_in_sequence_and_twenty_in_parallel_never_share_an_address(
    stack: Stack,
) -> None:
    for _ in range(60):
        cid = await stack.run("true", HostConfig={"AutoRemove": True})
        with trio.fail_after(30):
            await stack.runner.wait(cid, "removed")
    addresses: dict[str, str] = {}

    async def start_one() -> None:
        cid = await stack.run("sleep", "30")
        addresses[cid] = settings(stack, cid)["IPAddress"]

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(start_one)
    assert len(set(addresses.values())) == 20
    assert live_overlaps(stack) == []
    for cid in addresses:
        await stack.runner.remove(cid, API, force=True)
    network = stack.engine.get_aggregate(network_id_of("bridge"))
    assert network.allocations == {}
    assert network_leftovers(stack.root, bridge_too=False) == []


async def test_rm_leaves_no_veth_netns_address_or_forwarder(stack: Stack) -> None:
    cid = await stack.run(
        "sleep",
        "30",
        ExposedPorts={"80/tcp": {}, "53/udp": {}},
        HostConfig={"PublishAllPorts": True},
    )
    ports = settings(stack, cid)["Ports"]
    assert set(ports) == {"80/tcp", "53/udp"} and all(ports.values())
    assert network_leftovers(stack.root, bridge_too=False) != []
    await stack.runner.remove(cid, API, force=True)
    assert network_leftovers(stack.root, bridge_too=False) == []
    network = stack.engine.get_aggregate(network_id_of("bridge"))
    assert network.allocations == {}


async def test_reconcile_restores_what_a_running_container_is_missing(stack: Stack) -> None:
    cid = await run_published_httpd(stack)
    net = settings(stack, cid)
    port = net["Ports"]["80/tcp"][0]["HostPort"]
    assert await wait_http(f"http://127.0.0.1:{port}/") == "hello-from-httpd\n"
    # What a crash can leave behind: the forwarder gone, the veth pair gone.
    pidfile = stack.runner.container_dir(cid) / "ports.pid"
    forwarder = stack.runner.networks.forwarders.running_pid(pidfile)
    assert forwarder is not None
    os.kill(forwarder, signal.SIGKILL)
    veth = stack.engine.get_aggregate(cid).endpoint["HostVeth"]
    subprocess.run(["ip", "link", "del", veth], check=True)
    with pytest.raises(OSError):
        socket.create_connection((net["IPAddress"], 80), timeout=1).close()
    await stack.runner.reconcile()
    assert await wait_http(f"http://{net['IPAddress']}/") == "hello-from-httpd\n"
    assert await wait_http(f"http://127.0.0.1:{port}/") == "hello-from-httpd\n"
    assert settings(stack, cid)["Ports"] == net["Ports"]
