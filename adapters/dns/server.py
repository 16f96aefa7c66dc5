"""The name server of one berth root: `python -I -S .../dns/server.py --dir DIR [--port N]`.

It answers on the gateway address of every user-defined network of the root (as podman's
aardvark-dns; see ADR/0039), from the records the engine writes: one file per network,
`DIR/networks/<network id>.json` (domain/network_names.py), read at start and again at
each `reload` on its control socket (abstract, named after DIR: no path length limit,
nothing left on disk), which answers one JSON line: the listeners it could not bind. The
upstream resolvers are in `DIR/upstreams` (`IP PORT` a line).

A query is answered from the prebuilt tables (A and AAAA, the addresses rotated at each
answer: round robin) of the networks its client is a member of, whichever gateway it asks
(a container on two networks asks one, and knows the names of both), its own names (its
links) first; a client that is no
member but in the subnets of the network whose gateway it asks gets that network's names.
Any other query is relayed as it is to the upstreams (the client's own, its `--dns`, if
it has), the first to answer wins, SERVFAIL when none does. Any other client is REFUSED,
so that no network sees the names of another.

Then exactly one line goes to stdout: `ready` once the records are loaded and served.
Standard library only (the adapter starts it without site-packages, for its start-up);
SIGTERM ends it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import selectors
import socket
import struct
import sys
import time

TYPE_CHECKING = False  # typing itself is not imported: start-up time
if TYPE_CHECKING:
    from collections.abc import Sequence

SCRIPT_MARK = "/dns/server.py"
TTL = 600  # dockerd's embedded resolver answers with this TTL
FORWARD_TIMEOUT_S = 2.0
MAX_FORWARDS = 1024
BUFFER = 65535
A, AAAA, ANY = 1, 28, 255
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, REFUSED = 0, 1, 2, 3, 5
IN = 1
HEADER = struct.Struct("!HHHHHH")


class Table:
    """One network's names, prebuilt: the answer records of each name, by query type."""

    __slots__ = ("answers", "subnets", "turn")

    def __init__(
        self, names: dict[str, list[str]], subnets: Sequence[str], turn: dict[bytes, int]
    ) -> None:
        self.subnets = [ipaddress.ip_network(subnet, strict=False) for subnet in subnets]
        self.answers: dict[bytes, dict[int, list[bytes]]] = {}
        # Kept from the network's previous table: a reload (any container starting) must
        # not start every name's round robin again from the same address.
        self.turn = turn
        for name, addresses in names.items():
            by_type: dict[int, list[bytes]] = {A: [], AAAA: []}
            for address in addresses:
                packed = ipaddress.ip_address(address).packed
                kind = A if len(packed) == 4 else AAAA
                # The owner is a pointer to the question's name (offset 12).
                by_type[kind].append(
                    struct.pack("!HHHIH", 0xC00C, kind, 1, TTL, len(packed)) + packed
                )
            key = name.lower().rstrip(".").encode()
            self.answers[key] = by_type
            turn.setdefault(key, 0)

    def admits(self, client: str) -> bool:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(address in subnet for subnet in self.subnets)

    def records(self, name: bytes, qtype: int) -> list[bytes] | None:
        """The answer records in this turn's order; None for a name the network lacks."""
        by_type = self.answers.get(name)
        if by_type is None:
            return None
        records = by_type.get(A if qtype == ANY else qtype, [])
        if len(records) > 1:
            turn = self.turn[name] = (self.turn[name] + 1) % len(records)
            records = records[turn:] + records[:turn]
        return records


def parse_question(query: bytes) -> tuple[int, int, bytes, int, int] | None:
    """(flags, end of the question, lowercased name, qtype, qclass) of a standard query
    of one question, else None."""
    if len(query) < 17:
        return None
    _, flags, qdcount, _, _, _ = HEADER.unpack_from(query)
    if flags & 0x8000 or (flags >> 11) & 0xF or qdcount != 1:
        return None
    labels = []
    at = 12
    while True:
        length = query[at]
        if length == 0:
            at += 1
            break
        if length > 63 or at + 1 + length >= len(query):
            return None
        labels.append(query[at + 1 : at + 1 + length])
        at += 1 + length
    if at + 4 > len(query):
        return None
    qtype, qclass = struct.unpack_from("!HH", query, at)
    return flags, at + 4, b".".join(labels).lower(), qtype, qclass


def reply(query: bytes, end: int, flags: int, rcode: int, records: Sequence[bytes] = ()) -> bytes:
    """A response to `query`: its id and question, recursion available, `records`."""
    flags = 0x8000 | (flags & 0x0100) | 0x0080 | rcode
    head = HEADER.pack(struct.unpack_from("!H", query)[0], flags, 1, len(records), 0, 0)
    return head + query[12:end] + b"".join(records)


def error_reply(query: bytes, rcode: int) -> bytes | None:
    """An answer of `rcode` alone (id, opcode and RD of the query), None for a datagram
    too short to have an id."""
    if len(query) < 12:
        return None
    ident, flags = struct.unpack_from("!HH", query)
    return HEADER.pack(ident, 0x8000 | (flags & 0x7900) | 0x0080 | rcode, 0, 0, 0, 0)


class Forward:
    __slots__ = ("client", "deadline", "listener", "query", "upstreams")

    def __init__(
        self,
        listener: socket.socket,
        client: tuple[str, int],
        query: bytes,
        upstreams: list[tuple[str, int]],
    ) -> None:
        self.listener = listener
        self.client = client
        self.query = query
        self.upstreams = upstreams
        self.deadline = 0.0


class Server:
    def __init__(self, directory: str, port: int) -> None:
        self.directory = directory
        self.port = port
        self.selector = selectors.DefaultSelector()
        self.listeners: dict[str, tuple[socket.socket, Table]] = {}
        self.clients: dict[str, list[Table]] = {}
        self.turns: dict[str, dict[bytes, int]] = {}
        self.client_upstreams: dict[str, list[tuple[str, int]]] = {}
        self.upstreams: list[tuple[str, int]] = []
        self.forwards: dict[socket.socket, Forward] = {}
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.control.bind(control_address(directory))
        self.control.listen(16)
        self.selector.register(self.control, selectors.EVENT_READ, "control")

    # -- records -------------------------------------------------------------------------

    def reload(self) -> dict[str, str]:
        """Read every network's records and the upstreams again; answers the listeners
        that could not be bound, with why."""
        wanted: dict[str, Table] = {}
        clients: dict[str, list[Table]] = {}
        turns: dict[str, dict[bytes, int]] = {}
        client_upstreams: dict[str, list[tuple[str, int]]] = {}
        private: list[tuple[str, Table]] = []
        folder = os.path.join(self.directory, "networks")
        for entry in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if not entry.endswith(".json"):
                continue
            try:
                with open(os.path.join(folder, entry)) as file:
                    document = json.load(file)
            except (OSError, ValueError):
                continue  # replaced while read: the next reload has it
            network = str(document.get("network", entry))
            turns[network] = self.turns.get(network, {})
            table = Table(document.get("names", {}), document.get("subnets", []), turns[network])
            for address in document.get("listen", []):
                wanted[address] = table
            for address in document.get("members", []):
                clients.setdefault(address, []).append(table)
            for address, servers in (document.get("upstreams") or {}).items():
                client_upstreams[address] = [(server, 53) for server in servers]
            for address, own in (document.get("private") or {}).items():
                # A member's own names (its links) come before its networks' names.
                turns[address] = self.turns.get(address, {})
                private.append((address, Table(own, (), turns[address])))
        for address, table in private:
            clients[address] = [table, *clients.get(address, [])]
        self.clients = clients
        self.turns = turns
        self.client_upstreams = client_upstreams
        self.upstreams = read_upstreams(os.path.join(self.directory, "upstreams"))
        errors: dict[str, str] = {}
        for address in list(self.listeners):
            if address not in wanted:
                sock, _ = self.listeners.pop(address)
                self.selector.unregister(sock)
                sock.close()
        for address, table in wanted.items():
            if address in self.listeners:
                self.listeners[address] = (self.listeners[address][0], table)
                continue
            try:
                sock = bind_udp(address, self.port)
            except OSError as error:
                errors[address] = str(error)
                continue
            self.listeners[address] = (sock, table)
            self.selector.register(sock, selectors.EVENT_READ, "listener")
        return errors

    # -- serving ---------------------------------------------------------------------------

    def serve(self) -> None:
        while True:
            timeout = None
            if self.forwards:
                timeout = max(
                    0.0, min(f.deadline for f in self.forwards.values()) - time.monotonic()
                )
            for key, _ in self.selector.select(timeout):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if key.data == "listener":
                    self.on_query(sock)
                elif key.data == "control":
                    self.on_control()
                else:
                    self.on_upstream(sock)
            self.expire(time.monotonic())

    def on_query(self, listener: socket.socket) -> None:
        try:
            query, client = listener.recvfrom(BUFFER)
        except OSError:
            return
        if len(query) < 12 or query[2] & 0x80:
            return  # no id, or a response: answering could start a loop between servers
        own = self.listeners[listener.getsockname()[0]][1]
        tables = self.clients.get(client[0])
        if tables is None and own.admits(client[0]):
            tables = [own]
        if tables is None:
            answer = error_reply(query, REFUSED)
        else:
            answer = self.answer(listener, client, query, tables)
        if answer is not None:
            send(listener, answer, client)

    def answer(
        self,
        listener: socket.socket,
        client: tuple[str, int],
        query: bytes,
        tables: Sequence[Table],
    ) -> bytes | None:
        try:
            question = parse_question(query)
        except (IndexError, struct.error):
            question = None
        if question is None:
            return error_reply(query, FORMERR)
        flags, end, name, qtype, qclass = question
        for table in tables if qclass == IN else ():
            records = table.records(name, qtype)
            if records is not None:
                return reply(query, end, flags, NOERROR, records)
        upstreams = self.client_upstreams.get(client[0]) or self.upstreams
        if not upstreams or len(self.forwards) >= MAX_FORWARDS:
            return error_reply(query, SERVFAIL)
        self.relay(Forward(listener, client, query, list(upstreams)))
        return None

    def relay(self, forward: Forward) -> None:
        while forward.upstreams:
            upstream = forward.upstreams.pop(0)
            family = socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.setblocking(False)
                sock.connect(upstream)
                sock.send(forward.query)
            except OSError:
                sock.close()
                continue
            forward.deadline = time.monotonic() + FORWARD_TIMEOUT_S
            self.forwards[sock] = forward
            self.selector.register(sock, selectors.EVENT_READ, "upstream")
            return
        answer = error_reply(forward.query, SERVFAIL)
        if answer is not None:
            send(forward.listener, answer, forward.client)

    def on_upstream(self, sock: socket.socket) -> None:
        forward = self.drop(sock)
        try:
            answer = sock.recv(BUFFER)
        except OSError:  # refused (ICMP port unreachable): the next upstream
            sock.close()
            self.relay(forward)
            return
        sock.close()
        send(forward.listener, answer, forward.client)

    def drop(self, sock: socket.socket) -> Forward:
        self.selector.unregister(sock)
        return self.forwards.pop(sock)

    def expire(self, now: float) -> None:
        for sock, forward in list(self.forwards.items()):
            if forward.deadline <= now:
                self.drop(sock)
                sock.close()
                self.relay(forward)

    def on_control(self) -> None:
        connection, _ = self.control.accept()
        try:
            connection.settimeout(2.0)
            request = connection.recv(256).strip()
            if request == b"reload":
                errors = self.reload()
                connection.sendall(json.dumps({"errors": errors}).encode() + b"\n")
        except OSError:
            pass
        finally:
            connection.close()


def control_address(directory: str) -> str:
    """The abstract unix socket of the server of `directory` (an absolute path)."""
    return "\0berth-dns-" + hashlib.sha256(directory.encode()).hexdigest()[:32]


def send(sock: socket.socket, data: bytes, client: tuple[str, int]) -> None:
    """Best effort, as UDP is (contextlib.suppress would cost its import at start-up)."""
    try:
        sock.sendto(data, client)
    except OSError:
        return


def bind_udp(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        # The gateway's address may not be on the bridge yet. No SO_REUSEADDR: on UDP it
        # would let two servers share the address, each getting some of the queries.
        sock.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND
        sock.bind((address, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def read_upstreams(path: str) -> list[tuple[str, int]]:
    try:
        with open(path) as file:
            lines = file.read().split("\n")
    except OSError:
        return []
    upstreams = []
    for line in lines:
        fields = line.split()
        if len(fields) == 2:
            upstreams.append((fields[0], int(fields[1])))
    return upstreams


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2 or argv[0] != "--dir":
        print(__doc__, file=sys.stderr)
        return 2
    port = int(argv[3]) if len(argv) >= 4 and argv[2] == "--port" else 53
    server = Server(argv[1], port)
    errors = server.reload()
    sys.stdout.write("ready " + json.dumps(errors) + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
