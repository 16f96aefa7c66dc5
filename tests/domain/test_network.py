"""Unit tests for the Network aggregate and its IPAM."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.errors import BerthError, Conflict, InvalidParameter, NotFound
from berth.domain.network import Network
from berth.domain.network_files import hosts_file, resolv_conf
from berth.domain.network_pools import choose_bridge_subnet, mac_address, parse_bip

CAUSE = Cause(
    at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    actor=Actor(ActorKind.API, uid=0, pid=1),
    correlation_id="req-1",
)
NET_ID = "9e" * 32


def cid(n: int) -> str:
    """A distinct 64-hex container id per n."""
    return f"{n:064x}"


def make(subnet: str = "172.18.0.0/24", **overrides: Any) -> Network:
    fields: dict[str, Any] = {"id": NET_ID, "name": "berth0", "subnet": subnet, "cause": CAUSE}
    fields.update(overrides)
    return Network.create(**fields)


def assert_refused(
    network: Network, error: type[BerthError], message: str | None, command: Callable[[], object]
) -> None:
    """The command raises `error` (with `message`, if given) and records nothing."""
    events_before = list(network.pending_events)
    version_before = network.version
    allocations_before = dict(network.allocations)
    with pytest.raises(error) as info:
        command()
    if message is not None:
        assert info.value.message == message
    assert network.pending_events == events_before
    assert network.version == version_before
    assert network.allocations == allocations_before


# Creation ----------------------------------------------------------------------------------


def test_create_defaults_gateway_to_first_host() -> None:
    network = make(options={"com.docker.network.bridge.name": "berth0"})
    assert network.id == NET_ID
    assert network.name == "berth0"
    assert network.driver == "bridge"
    assert network.subnet == "172.18.0.0/24"
    assert network.gateway == "172.18.0.1"
    assert network.prefix_length == 24
    assert network.options == {"com.docker.network.bridge.name": "berth0"}
    assert network.allocations == {}
    assert network.removed is False
    [event] = network.pending_events
    assert isinstance(event, Network.Created)
    assert type(event).TOPIC == "berth.network.Created"
    assert Network.TOPIC == "berth.network"
    assert event.timestamp == CAUSE.at
    assert event.actor == CAUSE.actor


def test_create_with_explicit_gateway_and_normalised_subnet() -> None:
    network = make("10.1.0.0/255.255.0.0", gateway="10.1.200.7", driver="macvlan")
    assert network.subnet == "10.1.0.0/16"
    assert network.gateway == "10.1.200.7"
    assert network.driver == "macvlan"


@pytest.mark.parametrize(
    ("subnet", "fragment"),
    [
        ("10.0.0.1/8", "it should be 10.0.0.0/8"),
        ("fd00::/64", "only IPv4"),
        ("10.0.0.0/31", "prefix length must be 30 or less"),
        ("10.0.0.0/32", "prefix length must be 30 or less"),
        ("10.0.0.0", "expected IPv4 CIDR"),
        ("nonsense/24", "expected IPv4 CIDR"),
        ("10.0.0.0/33", "expected IPv4 CIDR"),
        (1234, "expected IPv4 CIDR"),
    ],
)
def test_create_rejects_invalid_subnet(subnet: Any, fragment: str) -> None:
    with pytest.raises(InvalidParameter, match=fragment):
        make(subnet)


@pytest.mark.parametrize(
    ("gateway", "fragment"),
    [
        ("172.19.0.1", "not in subnet"),
        ("172.18.0.0", "network or broadcast"),
        ("172.18.0.255", "network or broadcast"),
        ("172.18.0", "expected an IPv4 address"),
        ("fd00::1", "expected an IPv4 address"),
    ],
)
def test_create_rejects_invalid_gateway(gateway: str, fragment: str) -> None:
    with pytest.raises(InvalidParameter, match=fragment):
        make(gateway=gateway)


@pytest.mark.parametrize(
    "overrides",
    [
        {"id": "9e" * 31},
        {"id": "9E" * 32},
        {"name": ""},
        {"name": "my net"},
        {"driver": ""},
        {"options": {1: "x"}},
    ],
)
def test_create_rejects_invalid_fields(overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameter):
        make(**overrides)


# Allocation --------------------------------------------------------------------------------


def test_allocate_gives_lowest_free_host_skipping_gateway() -> None:
    network = make()
    assert network.allocate(cid(1), CAUSE) == "172.18.0.2"
    assert network.allocate(cid(2), CAUSE) == "172.18.0.3"
    assert network.allocations == {cid(1): "172.18.0.2", cid(2): "172.18.0.3"}
    assert network.version == 3
    event = network.pending_events[-1]
    assert isinstance(event, Network.AddressAllocated)
    assert type(event).TOPIC == "berth.network.AddressAllocated"
    assert (event.container_id, event.address) == (cid(2), "172.18.0.3")


def test_allocate_below_a_gateway_in_the_middle() -> None:
    network = make("192.168.5.0/29", gateway="192.168.5.3")
    got = [network.allocate(cid(n), CAUSE) for n in range(5)]
    assert got == ["192.168.5.1", "192.168.5.2", "192.168.5.4", "192.168.5.5", "192.168.5.6"]


def test_allocate_is_idempotent_per_container() -> None:
    network = make()
    first = network.allocate(cid(1), CAUSE)
    events_before = list(network.pending_events)
    assert network.allocate(cid(1), CAUSE) == first
    assert network.pending_events == events_before
    assert network.version == 2
    assert network.address_of(cid(1)) == first
    assert network.address_of(cid(2)) is None


def test_allocate_rejects_invalid_container_id() -> None:
    network = make()
    assert_refused(network, InvalidParameter, None, lambda: network.allocate("abc", CAUSE))


def test_exhausted_subnet_is_a_conflict() -> None:
    network = make("10.9.0.0/30")
    assert network.allocate(cid(1), CAUSE) == "10.9.0.2"
    assert network.lowest_free_address() is None
    assert_refused(
        network,
        Conflict,
        f"no available IPv4 addresses on this network's address pools: berth0 ({NET_ID})",
        lambda: network.allocate(cid(2), CAUSE),
    )


def test_slash_30_with_gateway_on_second_host() -> None:
    network = make("10.9.0.0/30", gateway="10.9.0.2")
    assert network.allocate(cid(1), CAUSE) == "10.9.0.1"
    with pytest.raises(Conflict):
        network.allocate(cid(2), CAUSE)


def test_slash_8_allocates_without_scanning_the_subnet() -> None:
    network = make("10.0.0.0/8")
    addresses = [network.allocate(cid(n), CAUSE) for n in range(300)]
    assert addresses[0] == "10.0.0.2"
    assert addresses[-1] == "10.0.1.45"
    assert len(set(addresses)) == 300
    network.release(cid(100), CAUSE)
    assert network.lowest_free_address() == addresses[100]


def test_release_records_and_frees_the_address() -> None:
    network = make()
    network.allocate(cid(1), CAUSE)
    network.allocate(cid(2), CAUSE)
    assert network.release(cid(1), CAUSE) is True
    event = network.pending_events[-1]
    assert isinstance(event, Network.AddressReleased)
    assert type(event).TOPIC == "berth.network.AddressReleased"
    assert (event.container_id, event.address) == (cid(1), "172.18.0.2")
    assert network.allocations == {cid(2): "172.18.0.3"}
    assert network.allocate(cid(3), CAUSE) == "172.18.0.2"


def test_release_of_unknown_container_records_nothing() -> None:
    network = make()
    network.allocate(cid(1), CAUSE)
    events_before = list(network.pending_events)
    assert network.release(cid(2), CAUSE) is False
    assert network.pending_events == events_before
    assert network.version == 2


# Removal -----------------------------------------------------------------------------------


def test_remove_with_active_endpoints_is_a_conflict() -> None:
    network = make()
    network.allocate(cid(1), CAUSE)
    assert_refused(
        network,
        Conflict,
        f"error while removing network: network berth0 id {NET_ID} has active endpoints",
        lambda: network.remove(CAUSE),
    )
    assert network.removed is False


def test_removed_network_refuses_commands() -> None:
    network = make()
    network.allocate(cid(1), CAUSE)
    network.release(cid(1), CAUSE)
    network.remove(CAUSE)
    assert network.removed is True
    event = network.pending_events[-1]
    assert isinstance(event, Network.Removed)
    assert type(event).TOPIC == "berth.network.Removed"
    message = "network berth0 not found"
    assert_refused(network, NotFound, message, lambda: network.allocate(cid(1), CAUSE))
    assert_refused(network, NotFound, message, lambda: network.release(cid(1), CAUSE))
    assert_refused(network, NotFound, message, lambda: network.remove(CAUSE))


# Events ------------------------------------------------------------------------------------


def test_replay_and_msgpack_round_trip() -> None:
    network = make(options={"mtu": "1500"})
    for n in range(4):
        network.allocate(cid(n), CAUSE)
    network.release(cid(1), CAUSE)
    rebuilt: Any = None
    for event in network.pending_events:
        rebuilt = event.mutate(rebuilt)
        assert dataclasses.is_dataclass(event)
        fields = {
            f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "actor"
        }
        assert msgpack.unpackb(msgpack.packb(fields, datetime=True), timestamp=3) == fields
    assert isinstance(rebuilt, Network)
    assert rebuilt.allocations == network.allocations
    assert rebuilt.holders == network.holders
    assert rebuilt.version == network.version == 6
    assert rebuilt.allocate(cid(9), CAUSE) == "172.18.0.3"


# Stateful model test -----------------------------------------------------------------------

CONTAINERS = st.integers(min_value=0, max_value=24)


class IpamMachine(RuleBasedStateMachine):
    """Random allocate/release sequences against a brute-force reference model."""

    network: Network
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    model: dict[int, ipaddress.IPv4Address]

    @initialize(prefix=st.integers(min_value=26, max_value=30), data=st.data())
    def create(self, prefix: int, data: st.DataObject) -> None:
        self.subnet = ipaddress.IPv4Network(f"10.20.30.0/{prefix}")
        hosts = list(self.subnet.hosts())
        self.gateway = data.draw(st.sampled_from(hosts))
        self.network = make(str(self.subnet), gateway=str(self.gateway))
        self.model = {}

    def model_lowest_free(self) -> ipaddress.IPv4Address | None:
        taken = set(self.model.values()) | {self.gateway}
        return next((h for h in self.subnet.hosts() if h not in taken), None)

    @rule(n=CONTAINERS)
    def allocate(self, n: int) -> None:
        held = self.model.get(n)
        expected = held if held is not None else self.model_lowest_free()
        if expected is None:
            with pytest.raises(Conflict):
                self.network.allocate(cid(n), CAUSE)
            return
        version = self.network.version
        got = ipaddress.IPv4Address(self.network.allocate(cid(n), CAUSE))
        assert got == expected
        assert self.network.version == version + (0 if held is not None else 1)
        self.model[n] = got

    @rule(n=CONTAINERS)
    def release(self, n: int) -> None:
        lowest_before = self.model_lowest_free()
        version = self.network.version
        released = self.network.release(cid(n), CAUSE)
        assert released == (n in self.model)
        if not released:
            assert self.network.version == version
            return
        address = self.model.pop(n)
        expected = address if lowest_before is None else min(address, lowest_before)
        assert self.network.lowest_free_address() == str(expected)

    @invariant()
    def matches_model(self) -> None:
        assert self.network.allocations == {cid(n): str(a) for n, a in self.model.items()}
        lowest = self.model_lowest_free()
        assert self.network.lowest_free_address() == (None if lowest is None else str(lowest))

    @invariant()
    def addresses_are_unique_hosts(self) -> None:
        addresses = [ipaddress.IPv4Address(a) for a in self.network.allocations.values()]
        assert len(set(addresses)) == len(addresses)
        forbidden = {self.subnet.network_address, self.subnet.broadcast_address, self.gateway}
        for address in addresses:
            assert address in self.subnet
            assert address not in forbidden


IpamMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestIpam = IpamMachine.TestCase


def test_mac_address_follows_docker_rule() -> None:
    assert mac_address("172.17.0.2") == "02:42:ac:11:00:02"


def test_bridge_subnet_skips_host_routes_and_refuses_a_colliding_bip() -> None:
    routes = [
        ipaddress.IPv4Network("0.0.0.0/0"),
        ipaddress.IPv4Network("172.17.0.0/16"),
        ipaddress.IPv4Network("172.18.5.0/24"),
    ]
    # Small subnets (ADR 0038): the first /24 of the pools that no route overlaps.
    assert choose_bridge_subnet(None, routes) == ("172.18.0.0/24", "172.18.0.1")
    assert choose_bridge_subnet("10.9.0.1/24", routes) == ("10.9.0.0/24", "10.9.0.1")
    with pytest.raises(Conflict, match=r"overlaps the host's route to 172\.17\.0\.0/16"):
        choose_bridge_subnet("172.17.3.1/24", routes)
    everything = [ipaddress.IPv4Network("172.16.0.0/12"), ipaddress.IPv4Network("192.168.0.0/16")]
    with pytest.raises(NotFound, match="non-overlapping"):
        choose_bridge_subnet(None, everything)


@pytest.mark.parametrize("bip", ["172.17.0.0/16", "10.0.0.255/24", "nonsense", "10.0.0.1/31"])
def test_bad_bip_is_refused(bip: str) -> None:
    with pytest.raises(InvalidParameter):
        parse_bip(bip)


def test_hosts_and_resolv_conf() -> None:
    hosts = hosts_file("box", "172.17.0.2", ["db:10.0.0.5"])
    assert "127.0.0.1\tlocalhost\n" in hosts
    assert hosts.endswith("10.0.0.5\tdb\n172.17.0.2\tbox\n")
    with pytest.raises(InvalidParameter):
        hosts_file("box", None, ["nonsense"])
    host = "nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch example\noptions edns0\n"
    assert resolv_conf(host) == "nameserver 192.0.2.1\nsearch example\noptions edns0\n"
    assert resolv_conf(host, dns=["10.0.0.2"], search=["lan"]) == (
        "options edns0\nnameserver 10.0.0.2\nsearch lan\n"
    )
    assert resolv_conf("nameserver 127.0.0.53\n") == "\n"
