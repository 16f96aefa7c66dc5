"""The userland port forwarder of one container: `python -m berth.adapters.network.forwarder`.

    python -m berth.adapters.network.forwarder --pidfile PATH [--udp-idle-timeout S] SPEC...

SPEC is `PROTO:HOST_IP:HOST_PORT:CONTAINER_IP:CONTAINER_PORT` (HOST_PORT 0: any free port).
`--pidfile` names the container's pidfile; it is only carried in the command line so that
the adapter can tell this process apart from any other before signalling it.

Every socket is bound before anything is served, and served before it is reported. Then
exactly one line goes to stdout:
`ready HOST_PORT ...` (in SPEC order), or `error MESSAGE` and exit status 1 if a bind
failed (nothing was served). After the ready line stdin/stdout go to /dev/null.

TCP: a connection accepted on the host port gets its own connection to the container; each
direction is one thread moving bytes socket -> pipe -> socket with splice(2), so the data
never enters Python. UDP: each client address gets its own socket connected to the
container, dropped after S seconds without traffic (default 90, docker-proxy's conntrack
timeout). SIGTERM ends the process (the default action).

Standard library only, and few modules of it (no json, re or dataclasses), so that the
adapter can start it as `python -I -S .../forwarder.py` for an interpreter start and little
more.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
import threading
import time

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

MODULE = "berth.adapters.network.forwarder"
DEFAULT_UDP_IDLE_TIMEOUT_S = 90.0
UDP_BUFFER = 65535
#: Client addresses served at once per UDP port; datagrams from more are dropped, so a
#: flood of source addresses cannot make a thread and a socket each.
MAX_UDP_FLOWS = 1024
CONNECT_TIMEOUT_S = 10.0
SPLICE_CHUNK = 1 << 20
PIPE_SIZE = 1 << 20
THREAD_STACK = 256 * 1024


class Spec:
    """One published port (a plain class: dataclasses would cost the start-up time)."""

    __slots__ = ("container_ip", "container_port", "host_ip", "host_port", "protocol")

    def __init__(
        self, protocol: str, host_ip: str, host_port: int, container_ip: str, container_port: int
    ) -> None:
        self.protocol = protocol
        self.host_ip = host_ip
        self.host_port = host_port
        self.container_ip = container_ip
        self.container_port = container_port

    def format(self) -> str:
        return (
            f"{self.protocol}:{self.host_ip}:{self.host_port}:"
            f"{self.container_ip}:{self.container_port}"
        )

    @classmethod
    def parse(cls, text: str) -> Spec:
        protocol, host_ip, host_port, container_ip, container_port = text.split(":")
        if protocol not in ("tcp", "udp"):
            raise ValueError(f"unknown protocol {protocol!r}")
        return cls(protocol, host_ip, int(host_port), container_ip, int(container_port))

    @property
    def bind_ip(self) -> str:
        return self.host_ip or "0.0.0.0"


def bind_error_message(spec: Spec, error: OSError) -> str:
    """Docker's wording for a host port that cannot be had."""
    if error.errno == errno.EADDRINUSE:
        return f"Bind for {spec.bind_ip}:{spec.host_port} failed: port is already allocated"
    reason = os.strerror(error.errno) if error.errno else str(error)
    return f"listen {spec.protocol}4 {spec.bind_ip}:{spec.host_port}: bind: {reason.lower()}"


def bind(spec: Spec) -> socket.socket:
    kind = socket.SOCK_STREAM if spec.protocol == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        if spec.protocol == "tcp":
            # Lets a restarted forwarder rebind while old connections sit in TIME_WAIT; a
            # port with a live listener still fails with EADDRINUSE.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec.bind_ip, spec.host_port))
        if spec.protocol == "tcp":
            sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


def quietly(call: Callable[..., object], *args: object) -> None:
    """Call, ignoring OSError: for best-effort steps on sockets that may be gone.
    (contextlib.suppress would cost contextlib's import at start-up.)"""
    try:
        call(*args)
    except OSError:
        return


def spawn(target: Callable[..., object], *args: object) -> None:
    threading.Thread(target=target, args=args, daemon=True).start()


# -- TCP ---------------------------------------------------------------------------------


class Splicer:
    """Both directions of one proxied TCP connection; the last one out closes the sockets."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self._lock = threading.Lock()
        self._running = 2

    def run(self) -> None:
        spawn(self._pump, self.upstream, self.client)
        self._pump(self.client, self.upstream)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            copy(source, sink)
            quietly(sink.shutdown, socket.SHUT_WR)  # pass the half-close on
        except OSError:
            # A reset on either side ends both directions: wake the other thread too.
            for sock in (self.client, self.upstream):
                quietly(sock.shutdown, socket.SHUT_RDWR)
        finally:
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self.client.close()
                self.upstream.close()


def copy(source: socket.socket, sink: socket.socket) -> None:
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        quietly(fcntl.fcntl, write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        src, dst = source.fileno(), sink.fileno()
        while True:
            moved = os.splice(src, write_end, SPLICE_CHUNK, flags=os.SPLICE_F_MOVE)
            if moved == 0:
                return
            while moved:
                moved -= os.splice(read_end, dst, moved, flags=os.SPLICE_F_MOVE)
    finally:
        os.close(read_end)
        os.close(write_end)


def serve_tcp(listener: socket.socket, spec: Spec) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            time.sleep(0.05)  # EMFILE and friends: back off instead of spinning
            continue
        spawn(proxy_tcp, client, spec)


def proxy_tcp(client: socket.socket, spec: Spec) -> None:
    try:
        upstream = socket.create_connection(
            (spec.container_ip, spec.container_port), timeout=CONNECT_TIMEOUT_S
        )
    except OSError as error:
        print(f"forwarder: connect {spec.format()}: {error}", file=sys.stderr, flush=True)
        client.close()
        return
    upstream.settimeout(None)
    for sock in (client, upstream):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Splicer(client, upstream).run()


# -- UDP ---------------------------------------------------------------------------------


class UdpFlow:
    """One client address: its own socket to the container, replies sent back to it."""

    def __init__(self, upstream: socket.socket) -> None:
        self.upstream = upstream
        self.last_used = time.monotonic()


def serve_udp(listener: socket.socket, spec: Spec, idle_timeout: float) -> None:
    flows: dict[tuple[str, int], UdpFlow] = {}
    lock = threading.Lock()
    while True:
        try:
            data, client = listener.recvfrom(UDP_BUFFER)
        except OSError:
            continue
        with lock:
            flow = flows.get(client)
            if flow is None:
                if len(flows) >= MAX_UDP_FLOWS:
                    continue
                upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    upstream.connect((spec.container_ip, spec.container_port))
                except OSError:
                    upstream.close()
                    continue
                flow = flows[client] = UdpFlow(upstream)
                spawn(udp_replies, listener, client, flow, flows, lock, idle_timeout)
            flow.last_used = time.monotonic()
        quietly(flow.upstream.send, data)


def udp_replies(
    listener: socket.socket,
    client: tuple[str, int],
    flow: UdpFlow,
    flows: dict[tuple[str, int], UdpFlow],
    lock: threading.Lock,
    idle_timeout: float,
) -> None:
    upstream = flow.upstream
    while True:
        with lock:
            idle = time.monotonic() - flow.last_used
            if idle >= idle_timeout:
                del flows[client]
                upstream.close()
                return
        upstream.settimeout(idle_timeout - idle)
        try:
            data = upstream.recv(UDP_BUFFER)
        except TimeoutError:
            continue
        except OSError:  # ECONNREFUSED from an ICMP port-unreachable: keep the flow
            continue
        flow.last_used = time.monotonic()
        quietly(listener.sendto, data, client)


# -- main --------------------------------------------------------------------------------


def report(line: str) -> None:
    sys.stdout.write(line.replace("\n", " ") + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[0] != "--pidfile":
        print(__doc__, file=sys.stderr)
        return 2
    rest = list(argv[2:])
    try:
        idle_timeout = DEFAULT_UDP_IDLE_TIMEOUT_S
        if rest[0] == "--udp-idle-timeout":
            idle_timeout = float(rest[1])
            del rest[:2]
        specs = [Spec.parse(text) for text in rest]
        if not specs:
            raise ValueError("no SPEC")
    except (ValueError, IndexError) as error:
        report(f"error invalid port spec: {error}")
        return 2
    listeners: list[socket.socket] = []
    for spec in specs:
        try:
            listeners.append(bind(spec))
        except OSError as error:
            report(f"error {bind_error_message(spec, error)}")
            return 1
    threading.stack_size(THREAD_STACK)
    for spec, sock in zip(specs, listeners, strict=True):
        if spec.protocol == "tcp":
            spawn(serve_tcp, sock, spec)
        else:
            spawn(serve_udp, sock, spec, idle_timeout)
    report("ready " + " ".join(str(sock.getsockname()[1]) for sock in listeners))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
