"""Egress as dockerd's: a container reaches a server in a namespace on the host's side of
a veth pair this test makes, seen from the host's address (masquerade); not from an
`--internal` network; with masquerade off, from its own address. Rules follow networks."""

from __future__ import annotations

import os
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from berth.domain.firewall_rules import chain_name
from berth.runtime.service.network_files import default_bridge_name

from ..fixtures.network import firewall_rules_sync
from .conftest import Berthd

# Answers each connection with the address it came from.
SERVER = textwrap.dedent("""
    import socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 8000))
    s.listen()
    while True:
        c, peer = s.accept()
        c.recv(1024)
        c.sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\n" + peer[0].encode())
        c.close()
""")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def listening(address: tuple[str, int]) -> None:
    """Until the server accepts a connection (it starts in the background)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(address, timeout=1) as probe:
                probe.sendall(b"GET / HTTP/1.0\r\n\r\n")
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class Outside:
    """A namespace behind a veth pair: host end `host_ip`, server on `server_ip`:8000."""

    netns: str
    host_ip: str
    server_ip: str


@pytest.fixture
def outside() -> Iterator[Outside]:
    tag = f"{os.getpid() % 100000}"
    netns, veth = f"egress{tag}", f"veg{tag}"
    sh("ip", "netns", "add", netns)
    server = None
    try:
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "addr", "add", "10.219.77.1/30", "dev", veth)
        sh("ip", "link", "set", veth, "up")
        sh("ip", "-n", netns, "addr", "add", "10.219.77.2/30", "dev", "eth0")
        sh("ip", "-n", netns, "link", "set", "eth0", "up")
        sh("ip", "-n", netns, "link", "set", "lo", "up")
        server = subprocess.Popen(["ip", "netns", "exec", netns, "python3", "-c", SERVER])
        listening(("10.219.77.2", 8000))
        yield Outside(netns, "10.219.77.1", "10.219.77.2")
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        sh("ip", "netns", "del", netns)


def fetch(berthd: Berthd, network: str, server: str) -> subprocess.CompletedProcess[str]:
    """What the server answers a container on `network`: the address it saw (busybox's
    wget needs the host's NSS libraries; nc does not)."""
    done = berthd.docker(
        "run", "--rm", "--network", network, "busybox", "sh", "-c",
        f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {server} 8000",
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    done.stdout = lines[-1].strip() if lines and "200 OK" in done.stdout else ""
    if not done.stdout:
        done.returncode = done.returncode or 1
    return done


def test_masquerade_internal_and_masquerade_off(berthd: Berthd, outside: Outside) -> None:
    url = outside.server_ip
    assert berthd.docker("network", "create", "--subnet", "10.219.1.0/24", "out").returncode == 0
    seen = fetch(berthd, "out", url)
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.strip() == outside.host_ip  # the host's address: masqueraded
    default = fetch(berthd, "bridge", url)
    assert default.stdout.strip() == outside.host_ip, default.stderr
    made = berthd.docker("network", "create", "--internal", "--subnet", "10.219.2.0/24", "in")
    assert made.returncode == 0
    assert fetch(berthd, "in", url).returncode != 0  # no route out
    plain = berthd.docker(
        "network", "create", "--subnet", "10.219.3.0/24",
        "-o", "com.docker.network.bridge.enable_ip_masquerade=false", "plain",
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    sh("ip", "-n", outside.netns, "route", "add", "10.219.3.0/24", "via", outside.host_ip)
    unmasked = fetch(berthd, "plain", url)
    assert unmasked.returncode == 0, unmasked.stderr
    assert unmasked.stdout.strip().startswith("10.219.3.")  # the container's own address
    chain = chain_name(default_bridge_name(berthd.root))
    rules = firewall_rules_sync(berthd.root)
    assert f"nat: -A {chain} -s 10.219.1.0/24 ! -o" in "\n".join(rules)
    assert not any("10.219.2.0/24" in r or "10.219.3.0/24" in r for r in rules)
    for name in ("out", "in", "plain"):
        assert berthd.docker("network", "rm", name).returncode == 0
    assert not any("10.219.1.0/24" in r for r in firewall_rules_sync(berthd.root))
