"""Helpers of the name server's tests: free ports, records on loopback addresses, a
query with dnspython and an upstream resolver of the test's own."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

from berth.domain.network_names import NetworkRecords


def free_port() -> int:
    """A UDP port free on every loopback address right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def loopback_records(
    network_id: str, third: int, names: Mapping[str, tuple[str, ...]]
) -> NetworkRecords:
    """A network on 127.0.<third>.0/24, answered on 127.0.<third>.1: loopback stands in for
    a bridge, so the server's rules are tested without namespaces."""
    return NetworkRecords(network_id, (f"127.0.{third}.1",), (f"127.0.{third}.0/24",), dict(names))


def ask(
    server: str, port: int, name: str, kind: str = "A", *, source: str | None = None
) -> dns.message.Message:
    query = dns.message.make_query(name, kind)
    return dns.query.udp(query, server, port=port, timeout=3, source=source)


def addresses(answer: dns.message.Message) -> list[str]:
    return [item.address for rrset in answer.answer for item in rrset]


@contextmanager
def upstream(
    answers: Mapping[str, str], at: tuple[str, int] = ("127.0.0.1", 0)
) -> Iterator[tuple[str, int]]:
    """A resolver on loopback answering `answers` (name -> IPv4), NXDOMAIN otherwise."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(at)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, client = sock.recvfrom(65535)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            name = query.question[0].name.to_text(omit_final_dot=True).lower()
            if name in answers:
                response.answer.append(
                    dns.rrset.from_text(query.question[0].name, 60, "IN", "A", answers[name])
                )
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(response.to_wire(), client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()
    finally:
        stop.set()
        thread.join()
        sock.close()
