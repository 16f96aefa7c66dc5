"""The name server on the wire: answers from the published records, round robin, refusal
of other networks' clients, forwarding to the upstreams, and a server that outlives the
adapter object that started it. Loopback addresses stand in for bridges' gateways."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.adapters.dns import server
from berth.adapters.dns.nameserver import NameServer, host_upstreams
from berth.adapters.processes import process_alive

from .dns_harness import addresses, ask, free_port, loopback_records, upstream

NET_A, NET_B = "a" * 64, "b" * 64


@pytest.fixture
async def nameserver(tmp_path: Path) -> AsyncIterator[NameServer]:
    with upstream({"example.test": "192.0.2.7"}) as resolver:
        real = NameServer(tmp_path / "dns", port=free_port(), upstreams=[resolver])
        try:
            yield real
        finally:
            await real.stop()
    assert not (tmp_path / "dns").exists()


async def query(
    ns: NameServer, name: str, kind: str = "A", *, on: int = 2, source: str | None = None
) -> dns.message.Message:
    return await trio.to_thread.run_sync(
        lambda: ask(f"127.0.{on}.1", ns.port, name, kind, source=source or f"127.0.{on}.9")
    )


async def test_names_are_answered_as_published(nameserver: NameServer) -> None:
    await nameserver.publish(
        loopback_records(
            NET_A, 2, {"web": ("127.0.2.2", "fd00::2"), "0123456789ab": ("127.0.2.2",)}
        )
    )
    for name in ("web", "WEB.", "0123456789ab"):
        answer = await query(nameserver, name)
        assert answer.rcode() == dns.rcode.NOERROR
        assert addresses(answer) == ["127.0.2.2"]
    assert addresses(await query(nameserver, "web", "AAAA")) == ["fd00::2"]
    empty = await query(nameserver, "0123456789ab", "AAAA")
    assert (empty.rcode(), empty.answer) == (dns.rcode.NOERROR, [])


async def test_several_addresses_are_answered_in_turn(nameserver: NameServer) -> None:
    members = ("127.0.2.2", "127.0.2.3", "127.0.2.4")
    await nameserver.publish(loopback_records(NET_A, 2, {"web": members}))
    firsts = []
    for _ in range(3):
        answered = addresses(await query(nameserver, "web"))
        assert sorted(answered) == sorted(members)
        firsts.append(answered[0])
    assert sorted(firsts) == sorted(members)


async def test_other_networks_names_and_clients_get_nothing(nameserver: NameServer) -> None:
    await nameserver.publish(loopback_records(NET_A, 2, {"web": ("127.0.2.2",)}))
    await nameserver.publish(loopback_records(NET_B, 3, {"db": ("127.0.3.2",)}))
    # db is B's: on A's gateway it goes upstream, which does not know it.
    assert (await query(nameserver, "db")).rcode() == dns.rcode.NXDOMAIN
    # A client of B asking A's gateway is refused.
    refused = await query(nameserver, "web", source="127.0.3.9")
    assert (refused.rcode(), refused.answer) == (dns.rcode.REFUSED, [])
    assert addresses(await query(nameserver, "db", on=3)) == ["127.0.3.2"]


async def test_other_names_are_forwarded_upstream(nameserver: NameServer) -> None:
    await nameserver.publish(loopback_records(NET_A, 2, {"web": ("127.0.2.2",)}))
    assert addresses(await query(nameserver, "example.test")) == ["192.0.2.7"]
    assert (await query(nameserver, "nowhere.test")).rcode() == dns.rcode.NXDOMAIN


async def test_without_upstreams_other_names_fail(tmp_path: Path) -> None:
    lonely = NameServer(tmp_path / "dns", port=free_port(), upstreams=[])
    try:
        await lonely.publish(loopback_records(NET_A, 2, {}))
        assert (await query(lonely, "example.test")).rcode() == dns.rcode.SERVFAIL
    finally:
        await lonely.stop()


async def test_a_silent_upstream_is_skipped_for_the_next(tmp_path: Path) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    with silent, upstream({"example.test": "192.0.2.7"}) as resolver:
        ns = NameServer(
            tmp_path / "dns", port=free_port(), upstreams=[silent.getsockname(), resolver]
        )
        try:
            await ns.publish(loopback_records(NET_A, 2, {}))
            assert addresses(await query(ns, "example.test")) == ["192.0.2.7"]
        finally:
            await ns.stop()


async def test_answers_follow_each_publish(nameserver: NameServer) -> None:
    await nameserver.publish(loopback_records(NET_A, 2, {"web": ("127.0.2.2",)}))
    await nameserver.publish(loopback_records(NET_A, 2, {"site": ("127.0.2.2",)}))
    assert addresses(await query(nameserver, "site")) == ["127.0.2.2"]
    assert (await query(nameserver, "web")).rcode() == dns.rcode.NXDOMAIN


async def test_the_server_outlives_its_adapter_and_is_adopted(nameserver: NameServer) -> None:
    await nameserver.publish(loopback_records(NET_A, 2, {"web": ("127.0.2.2",)}))
    pid = nameserver.running_pid()
    later = NameServer(nameserver.directory, port=nameserver.port, upstreams=[])
    assert later.running_pid() == pid
    await later.publish(loopback_records(NET_B, 3, {"db": ("127.0.3.2",)}))
    assert later.running_pid() == pid
    assert addresses(await query(later, "db", on=3)) == ["127.0.3.2"]


async def test_a_killed_server_is_started_again_with_what_was_published(
    nameserver: NameServer,
) -> None:
    await nameserver.publish(loopback_records(NET_A, 2, {"web": ("127.0.2.2",)}))
    pid = nameserver.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while process_alive(pid):
        await trio.sleep(0.01)
    assert nameserver.running_pid() is None
    await nameserver.publish(loopback_records(NET_B, 3, {"db": ("127.0.3.2",)}))
    assert addresses(await query(nameserver, "web")) == ["127.0.2.2"]


async def test_garbage_is_survived(nameserver: NameServer) -> None:
    await nameserver.publish(loopback_records(NET_A, 2, {"web": ("127.0.2.2",)}))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.2.9", 0))
        for junk in (
            b"",
            b"\x00",
            b"\xff" * 12,
            b"\x12\x34\x01\x00\x00\x01" + b"\x00" * 6 + b"\x3f",
        ):
            sock.sendto(junk, ("127.0.2.1", nameserver.port))
        sock.settimeout(3)
        # Only the query cut short is answered: the others have no id or are responses.
        answer = dns.message.from_wire(sock.recv(512))
        assert (answer.id, answer.rcode()) == (0x1234, dns.rcode.FORMERR)
    assert addresses(await query(nameserver, "web")) == ["127.0.2.2"]


def test_host_upstreams_are_the_nameserver_lines(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "search x\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver 10.0.0.2\n"
    )
    assert host_upstreams(conf) == [("127.0.0.53", 53), ("10.0.0.2", 53)]


names = st.lists(
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
        min_size=1,
        max_size=20,
    ),
    min_size=1,
    max_size=4,
).map(".".join)


@settings(max_examples=200, deadline=None)
@given(name=names, kind=st.sampled_from(["A", "AAAA", "MX", "TXT", "ANY"]), edns=st.booleans())
def test_questions_are_read_as_dnspython_reads_them(name: str, kind: str, edns: bool) -> None:
    wire = dns.message.make_query(name, kind, use_edns=edns).to_wire()
    parsed = server.parse_question(wire)
    assert parsed is not None
    _, end, qname, qtype, _ = parsed
    assert qname == name.lower().encode()
    assert qtype == dns.rdatatype.from_text(kind)
    response = dns.message.from_wire(server.reply(wire, end, 0x0100, 0, []))
    assert response.id == struct.unpack_from("!H", wire)[0]
    assert response.question == dns.message.from_wire(wire).question


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=64))
def test_any_bytes_are_parsed_or_refused_without_error(junk: bytes) -> None:
    with contextlib.suppress(IndexError, struct.error):
        server.parse_question(junk)


async def test_a_member_of_two_networks_knows_both_from_either_gateway(
    nameserver: NameServer,
) -> None:
    both = "127.0.2.5"  # stands for a container's addresses on both networks
    a = loopback_records(NET_A, 2, {"web": ("127.0.2.2",)})
    b = loopback_records(NET_B, 3, {"db": ("127.0.3.2",)})
    await nameserver.publish(replace(a, members=(both,)))
    await nameserver.publish(replace(b, members=(both,)))
    for name, found in (("web", "127.0.2.2"), ("db", "127.0.3.2")):
        assert addresses(await query(nameserver, name, source=both)) == [found]


async def test_a_member_with_its_own_resolvers_is_forwarded_to_them(
    nameserver: NameServer,
) -> None:
    records = loopback_records(NET_A, 2, {})
    with upstream({"example.test": "192.0.2.99"}, ("127.0.7.53", 53)) as own:
        await nameserver.publish(
            replace(records, members=("127.0.2.5",), upstreams={"127.0.2.5": (own[0],)})
        )
        found = await query(nameserver, "example.test", source="127.0.2.5")
    assert addresses(found) == ["192.0.2.99"]
    assert addresses(await query(nameserver, "example.test")) == ["192.0.2.7"]


async def test_round_robin_goes_on_across_a_reload(nameserver: NameServer) -> None:
    members = ("127.0.2.2", "127.0.2.3", "127.0.2.4")
    firsts = []
    for n in range(3):  # each publish (another member, say) reloads the tables
        await nameserver.publish(loopback_records(NET_A, 2, {"web": members, f"x{n}": members}))
        firsts.append(addresses(await query(nameserver, "web"))[0])
    assert sorted(firsts) == sorted(members)


async def test_a_members_own_names_are_only_its_own(nameserver: NameServer) -> None:
    records = loopback_records(NET_A, 2, {"web": ("127.0.2.2",)})
    await nameserver.publish(
        replace(records, members=("127.0.2.5",), private={"127.0.2.5": {"db": ("127.0.2.2",)}})
    )
    assert addresses(await query(nameserver, "db", source="127.0.2.5")) == ["127.0.2.2"]
    assert addresses(await query(nameserver, "web", source="127.0.2.5")) == ["127.0.2.2"]
    assert (await query(nameserver, "db")).rcode() == dns.rcode.NXDOMAIN
