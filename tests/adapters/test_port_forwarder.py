"""The port forwarder for real: a container namespace on a bridge serving TCP and UDP,
reached through 127.0.0.1 and published ports; refusals, idempotency, stop, throughput."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from berth.adapters.network import (
    NetworkLinks,
    PortForward,
    PortForwarders,
    forwards_path,
    read_forwards,
    running_forwarders,
)
from berth.adapters.network.ports import PortForwardFailed, log_path
from berth.domain.errors import BerthError, InvalidParameter
from tests.adapters import test_network_links as network
from tests.adapters.test_network_links import Names

pytestmark = network.pytestmark
names = network.names  # the fixture: unique names and a free subnet

ECHO_PORT, SINK_PORT, UDP_PORT = 7000, 7001, 7002
TRANSFER_BYTES = 100 * 1024 * 1024

#: Runs inside the container namespace: a TCP echo, a TCP sink that answers the number of
#: bytes it read once the client half-closes, and a UDP echo.
SERVER = textwrap.dedent(
    """
    import socket, sys, threading
    def echo(conn):
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.close()
    def sink(conn):
        total = 0
        while data := conn.recv(1 << 20):
            total += len(data)
        conn.sendall(str(total).encode())
        conn.close()
    def serve(port, handler):
        listener = socket.create_server(("0.0.0.0", port))
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handler, args=(conn,), daemon=True).start()
    def udp(port):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", port))
        while True:
            data, peer = sock.recvfrom(65535)
            sock.sendto(b"echo:" + data, peer)
    for target, args in ((serve, ({echo}, echo)), (serve, ({sink}, sink)), (udp, ({udp},))):
        threading.Thread(target=target, args=args, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()
    """
).format(echo=ECHO_PORT, sink=SINK_PORT, udp=UDP_PORT)


@dataclass
class Container:
    address: str
    pidfile: Path

    def forward(
        self, protocol: str, port: int, host_port: int = 0, host_ip: str = ""
    ) -> PortForward:
        return PortForward(protocol, host_ip, host_port, self.address, port)


def forwarder_pids(pidfile: Path) -> list[int]:
    """Every process, zombies included, whose command line names this pidfile."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if str(pidfile).encode() in entry.joinpath("cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


@pytest.fixture
async def container(names: Names, tmp_path: Path) -> AsyncIterator[Container]:
    links = NetworkLinks()
    endpoint = names.endpoint(0)
    await links.ensure_bridge(names.bridge, names.gateway, 24)
    await links.attach(endpoint)
    server = subprocess.Popen(
        ["ip", "netns", "exec", endpoint.netns, sys.executable, "-I", "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == b"ready\n"
        yield Container(endpoint.address, tmp_path / "forwarder.pid")
    finally:
        server.kill()
        server.wait()
        await links.detach(endpoint.netns, endpoint.host_veth)
        await links.remove_bridge(names.bridge)
        links.close()


@pytest.fixture
async def forwarders() -> AsyncIterator[PortForwarders]:
    forwarders = PortForwarders()
    yield forwarders
    for child in forwarders._children.values():  # what a failed test left running
        child.kill()
        await child.wait()


def tcp_exchange(port: int, payload: bytes, host: str = "127.0.0.1") -> bytes:
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        received = b""
        while data := conn.recv(65536):
            received += data
        return received


def udp_exchange(port: int, payload: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(payload, ("127.0.0.1", port))
        return sock.recv(65535)


def send_bulk(host: str, port: int, size: int) -> tuple[int, float]:
    """Send `size` bytes, half-close, return what the sink counted and the MB/s."""
    chunk = os.urandom(1 << 20)
    started = time.perf_counter()
    with socket.create_connection((host, port), timeout=30) as conn:
        for _ in range(size // len(chunk)):
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)
        counted = int(conn.recv(64))
    elapsed = time.perf_counter() - started
    return counted, size / elapsed / 1e6


async def test_tcp_through_127_0_0_1_then_stop_leaves_nothing(
    container: Container, forwarders: PortForwarders
) -> None:
    pid, bound = await forwarders.start(container.pidfile, [container.forward("tcp", ECHO_PORT)])
    (forward,) = bound
    assert forward.host_port != 0 and forward.host_ip == ""
    assert forwarders.running_pid(container.pidfile) == pid
    assert read_forwards(container.pidfile) == bound
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert argv[3].endswith(b"adapters/network/forwarder.py") and b"--pidfile" in argv
    assert os.getsid(pid) == pid  # its own session: it outlives berthd

    for size in (5, 300_000):
        payload = os.urandom(size)
        assert await trio.to_thread.run_sync(tcp_exchange, forward.host_port, payload) == payload

    await forwarders.stop(container.pidfile)
    assert forwarder_pids(container.pidfile) == []
    assert not Path(f"/proc/{pid}").exists()  # reaped, not a zombie
    assert not container.pidfile.exists() and not forwards_path(container.pidfile).exists()
    assert forwarders.running_pid(container.pidfile) is None
    await forwarders.stop(container.pidfile)
    with pytest.raises(OSError):
        tcp_exchange(forward.host_port, b"x")


async def test_udp_round_trip_and_tcp_on_a_given_host_ip_and_port(
    container: Container, forwarders: PortForwarders
) -> None:
    with socket.socket() as probe:  # a port that is free right now
        probe.bind(("127.0.0.1", 0))
        wanted = probe.getsockname()[1]
    _, bound = await forwarders.start(
        container.pidfile,
        [
            container.forward("udp", UDP_PORT),
            container.forward("tcp", ECHO_PORT, host_port=wanted, host_ip="127.0.0.1"),
        ],
    )
    udp, tcp = bound
    assert tcp.host_port == wanted and tcp.host_ip == "127.0.0.1"
    assert await trio.to_thread.run_sync(udp_exchange, udp.host_port, b"ping") == b"echo:ping"
    assert await trio.to_thread.run_sync(udp_exchange, udp.host_port, b"again") == b"echo:again"
    assert await trio.to_thread.run_sync(tcp_exchange, wanted, b"hi") == b"hi"
    await forwarders.stop(container.pidfile)
    assert forwarder_pids(container.pidfile) == []


async def test_a_connection_to_a_closed_container_port_is_closed_and_others_go_on(
    container: Container, forwarders: PortForwarders
) -> None:
    _, (closed, echo) = await forwarders.start(
        container.pidfile,
        [container.forward("tcp", 7999), container.forward("tcp", ECHO_PORT)],
    )
    assert await trio.to_thread.run_sync(tcp_exchange, closed.host_port, b"") == b""  # EOF
    assert await trio.to_thread.run_sync(tcp_exchange, echo.host_port, b"still") == b"still"
    assert "7999" in log_path(container.pidfile).read_text()
    await forwarders.stop(container.pidfile)


async def test_an_idle_udp_client_is_forgotten_after_the_timeout(container: Container) -> None:
    forwarders = PortForwarders(udp_idle_timeout_s=0.3)
    pid, (forward,) = await forwarders.start(
        container.pidfile, [container.forward("udp", UDP_PORT)]
    )

    def threads() -> int:
        return len(os.listdir(f"/proc/{pid}/task"))

    try:
        idle = threads()  # main and the UDP listener
        assert await trio.to_thread.run_sync(udp_exchange, forward.host_port, b"a") == b"echo:a"
        assert threads() == idle + 1  # this client's flow
        with trio.fail_after(5):
            while threads() != idle:
                await trio.sleep(0.05)
        assert await trio.to_thread.run_sync(udp_exchange, forward.host_port, b"b") == b"echo:b"
    finally:
        await forwarders.stop(container.pidfile)
    assert forwarder_pids(container.pidfile) == []


async def test_random_ports_are_the_ones_really_bound(
    container: Container, forwarders: PortForwarders
) -> None:
    pid, bound = await forwarders.start(
        container.pidfile,
        [container.forward("tcp", ECHO_PORT), container.forward("udp", UDP_PORT)],
    )
    assert [f.host_port != 0 for f in bound] == [True, True]
    for forward in bound:
        kind = socket.SOCK_STREAM if forward.protocol == "tcp" else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as other, pytest.raises(OSError) as taken:
            other.bind(("0.0.0.0", forward.host_port))
        assert taken.value.errno == 98  # EADDRINUSE: the forwarder holds it
    assert await trio.to_thread.run_sync(tcp_exchange, bound[0].host_port, b"x") == b"x"
    assert await trio.to_thread.run_sync(udp_exchange, bound[1].host_port, b"y") == b"echo:y"
    # Idempotent: a live forwarder is returned as is.
    assert await forwarders.start(container.pidfile, [container.forward("tcp", ECHO_PORT)]) == (
        pid,
        bound,
    )
    await forwarders.stop(container.pidfile)


async def test_a_taken_port_is_refused_with_dockers_message_and_nothing_runs(
    container: Container, forwarders: PortForwarders
) -> None:
    with socket.create_server(("0.0.0.0", 0)) as holder:
        port = holder.getsockname()[1]
        with pytest.raises(BerthError) as refused:
            await forwarders.start(
                container.pidfile,
                [container.forward("udp", UDP_PORT), container.forward("tcp", ECHO_PORT, port)],
            )
    assert isinstance(refused.value, PortForwardFailed)
    assert refused.value.http_status == 500
    assert refused.value.message == f"Bind for 0.0.0.0:{port} failed: port is already allocated"
    assert forwarder_pids(container.pidfile) == []
    assert not container.pidfile.exists() and read_forwards(container.pidfile) == []
    assert forwarders._children == {}


async def test_bad_forwards_are_refused_before_anything_starts(
    container: Container, forwarders: PortForwarders
) -> None:
    for bad in (
        container.forward("sctp", 80),
        container.forward("tcp", 0),
        container.forward("tcp", 80, host_port=70000),
        container.forward("tcp", 80, host_ip="localhost"),
    ):
        with pytest.raises(InvalidParameter):
            await forwarders.start(container.pidfile, [bad])
    assert forwarder_pids(container.pidfile) == []


async def test_a_cancelled_start_kills_and_reaps_the_child(
    container: Container, forwarders: PortForwarders
) -> None:
    with trio.move_on_after(0.005) as scope:
        await forwarders.start(container.pidfile, [container.forward("tcp", ECHO_PORT)])
    assert scope.cancelled_caught
    assert forwarder_pids(container.pidfile) == []
    assert not container.pidfile.exists()


async def test_another_engine_stops_it_only_after_checking_it_is_ours(
    container: Container, forwarders: PortForwarders
) -> None:
    pid, _ = await forwarders.start(container.pidfile, [container.forward("tcp", ECHO_PORT)])
    other_pidfile = container.pidfile.with_name("other.pid")
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        other_pidfile.write_text(f"{sleeper.pid}\n")
        restarted = PortForwarders()  # as berthd after a restart: not the parent
        assert restarted.running_pid(other_pidfile) is None
        await restarted.stop(other_pidfile)
        assert sleeper.poll() is None  # not ours: left alone
        assert restarted.running_pid(container.pidfile) == pid
        await restarted.stop(container.pidfile)
        assert forwarders.running_pid(container.pidfile) is None
        with trio.fail_after(5):  # the parent reaps what it started, once it has exited
            while forwarders._children:
                forwarders.reap_exited()
                await trio.sleep(0.01)
        assert not Path(f"/proc/{pid}").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_reconcile_finds_forwarders_in_proc_even_without_their_pidfile(
    container: Container, forwarders: PortForwarders, tmp_path: Path
) -> None:
    pid, _ = await forwarders.start(container.pidfile, [container.forward("tcp", ECHO_PORT)])
    assert running_forwarders(tmp_path) == {container.pidfile: pid}
    assert running_forwarders(tmp_path / "elsewhere") == {}
    container.pidfile.unlink()  # lost, as after a crash between two writes
    assert forwarders.running_pid(container.pidfile) is None
    await forwarders.stop(container.pidfile, pid=os.getpid())  # not a forwarder: ignored
    assert running_forwarders(tmp_path) == {container.pidfile: pid}
    await forwarders.stop(container.pidfile, pid=pid)
    assert running_forwarders(tmp_path) == {}
    assert forwarder_pids(container.pidfile) == []


async def test_100_mb_through_the_forwarder_and_direct(
    container: Container, forwarders: PortForwarders
) -> None:
    _, (forward,) = await forwarders.start(container.pidfile, [container.forward("tcp", SINK_PORT)])
    direct, direct_rate = await trio.to_thread.run_sync(
        send_bulk, container.address, SINK_PORT, TRANSFER_BYTES
    )
    forwarded, forwarded_rate = await trio.to_thread.run_sync(
        send_bulk, "127.0.0.1", forward.host_port, TRANSFER_BYTES
    )
    print(
        f"\n100 MB direct {direct_rate:.0f} MB/s, through the forwarder {forwarded_rate:.0f} MB/s"
        f" ({forwarded_rate / direct_rate:.0%})"
    )
    assert direct == forwarded == TRANSFER_BYTES
    await forwarders.stop(container.pidfile)
