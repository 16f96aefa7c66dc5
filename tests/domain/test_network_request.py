"""User-defined networks: the create request, the pools, and the Network's new commands."""

from __future__ import annotations

import contextlib
import ipaddress
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.errors import (
    BerthError,
    Conflict,
    Forbidden,
    InvalidParameter,
    NotFound,
    Unavailable,
)
from berth.domain.network import Network
from berth.domain.network_pools import check_no_overlap, choose_pool
from berth.domain.network_request import NetworkRequest, parse_network_request
from berth.domain.swarm import NOT_A_MANAGER

CAUSE = Cause(datetime(2026, 1, 1, tzinfo=UTC), Actor(ActorKind.API, uid=0, pid=1), "r")
NET_ID = "ab" * 32


def cid(n: int) -> str:
    return f"{n:064x}"


def define(**body: Any) -> Network:
    request = parse_network_request({"Name": "front", **body})
    subnet = request.subnet or "10.5.0.0/24"
    gateway = request.gateway or "10.5.0.1"
    return Network.define(id=NET_ID, request=request, subnet=subnet, gateway=gateway, cause=CAUSE)


def test_a_full_request_is_read() -> None:
    request = parse_network_request(
        {
            "Name": "front",
            "CheckDuplicate": True,
            "Driver": "bridge",
            "Internal": True,
            "Attachable": True,
            "Labels": {"a": "b"},
            "Options": {
                "com.docker.network.bridge.name": "brfront",
                "com.docker.network.bridge.enable_ip_masquerade": "false",
            },
            "IPAM": {
                "Driver": "default",
                "Config": [
                    {
                        "Subnet": "10.7.0.0/16",
                        "Gateway": "10.7.0.254",
                        "IPRange": "10.7.1.0/24",
                        "AuxiliaryAddresses": {"router": "10.7.0.2"},
                    }
                ],
            },
        }
    )
    assert request == NetworkRequest(
        name="front",
        subnet="10.7.0.0/16",
        gateway="10.7.0.254",
        ip_range="10.7.1.0/24",
        aux_addresses={"router": "10.7.0.2"},
        shown={
            "Subnet": "10.7.0.0/16",
            "Gateway": "10.7.0.254",
            "IPRange": "10.7.1.0/24",
            "AuxiliaryAddresses": {"router": "10.7.0.2"},
        },
        internal=True,
        attachable=True,
        labels={"a": "b"},
        options={
            "com.docker.network.bridge.name": "brfront",
            "com.docker.network.bridge.enable_ip_masquerade": "false",
        },
    )
    assert request.masquerade is False
    assert parse_network_request({"Name": "x"}).masquerade is True


def test_options_dockerd_keeps_or_applies_are_read() -> None:
    """ICC is applied (service/network_base); the IPAM options and the enable_ipv6
    option are kept and shown, as dockerd 20.10's drivers read none of them."""
    request = parse_network_request(
        {
            "Name": "x",
            "Options": {"com.docker.network.bridge.enable_icc": "false",
                        "com.docker.network.enable_ipv6": "true"},
            "IPAM": {"Driver": "default", "Options": {"com.docker.compose.network.test": "9"}},
        }
    )  # fmt: skip
    assert request.ipam_options == {"com.docker.compose.network.test": "9"}
    assert request.options["com.docker.network.bridge.enable_icc"] == "false"
    assert request.enable_ipv6 is False and request.masquerade is True


def test_an_ipv6_network_reads_its_subnet_and_takes_ipv4_from_the_pools() -> None:
    request = parse_network_request(
        {
            "Name": "six",
            "EnableIPv6": True,
            "IPAM": {
                "Config": [
                    {"Subnet": "2001:389::/64", "IPRange": "2001:389::/96",
                     "Gateway": "2001:389::ffff"},
                ]
            },
        }
    )  # fmt: skip
    assert (request.enable_ipv6, request.subnet6, request.gateway6, request.ip_range6) == (
        True, "2001:389::/64", "2001:389::ffff", "2001:389::/96"
    )  # fmt: skip
    assert request.subnet is None  # chosen from the pools
    both = parse_network_request(
        {"Name": "both", "EnableIPv6": True, "IPAM": {"Config": [
            {"Subnet": "fd00:1::/64"}, {"Subnet": "10.9.0.0/24"}]}}
    )  # fmt: skip
    assert (both.subnet, both.subnet6, both.gateway6) == ("10.9.0.0/24", "fd00:1::/64", "fd00:1::1")


def test_a_users_subnet_keeps_its_host_bits_in_what_inspect_shows_and_drops_them_in_use() -> None:
    """dockerd 20.10 takes `--subnet 10.9.0.1/24` as net.ParseCIDR does, and shows the
    configs as given: no gateway unless one was; a subnet from the pools with its own."""
    request = parse_network_request(
        {"Name": "x", "EnableIPv6": True, "IPAM": {"Config": [
            {"Subnet": "fd00:9::1/64"}, {"Subnet": "10.9.0.1/24", "IPRange": "10.9.0.128/25"}]}}
    )  # fmt: skip
    assert (request.subnet, request.gateway, request.subnet6) == (
        "10.9.0.0/24", "10.9.0.1", "fd00:9::/64"
    )  # fmt: skip
    network = Network.define(
        id=NET_ID, request=request, subnet="10.9.0.0/24", gateway="10.9.0.1", cause=CAUSE
    )
    assert network.ipam_shown == [
        {"Subnet": "10.9.0.1/24", "IPRange": "10.9.0.128/25"}, {"Subnet": "fd00:9::1/64"}
    ]  # fmt: skip
    pooled = define()
    assert pooled.ipam_shown == [{"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.1"}]


def test_an_ipv6_network_hands_out_both_families_and_takes_both_back() -> None:
    pool = {"Subnet": "2001:389::/64", "IPRange": "2001:389::/96", "Gateway": "2001:389::1"}
    network = define(EnableIPv6=True, IPAM={"Config": [pool]})
    assert network.allocate(cid(1), CAUSE) == "10.5.0.2"
    assert network.address6_of(cid(1)) == "2001:389::2"  # ::1 is the gateway
    assert network.allocate(cid(2), CAUSE, requested6="2001:389::f00d") == "10.5.0.3"
    assert network.address6_of(cid(2)) == "2001:389::f00d"
    with pytest.raises(Forbidden, match="Address already in use"):
        network.allocate(cid(3), CAUSE, requested6="2001:389::f00d")
    with pytest.raises(InvalidParameter, match="does not belong to any of this network"):
        network.allocate(cid(3), CAUSE, requested6="2001:db8::1")
    with pytest.raises(InvalidParameter, match=r"invalid IPv6 address: 10\.5\.0\.9"):
        network.allocate(cid(3), CAUSE, requested6="10.5.0.9")
    assert network.prefix6_length == 64
    assert network.release(cid(1), CAUSE)
    assert network.address6_of(cid(1)) == "" and "2001:389::2" not in network.holders6
    assert network.allocate(cid(4), CAUSE) == "10.5.0.2"
    assert network.address6_of(cid(4)) == "2001:389::2"  # given back, handed out again
    plain = define()
    plain.allocate(cid(1), CAUSE)
    assert plain.address6_of(cid(1)) == "" and plain.prefix6_length == 0


def test_an_ipv6_range_that_is_full_refuses_the_next_container() -> None:
    network = define(EnableIPv6=True, IPAM={"Config": [{"Subnet": "fd00::/126"}]})
    network.allocate(cid(1), CAUSE)
    network.allocate(cid(2), CAUSE)  # ::2 and ::3 (IPv6 has no broadcast address)
    assert network.address6_of(cid(2)) == "fd00::3"
    with pytest.raises(Conflict, match="no available IPv6 addresses"):
        network.allocate(cid(3), CAUSE)
    assert cid(3) not in network.allocations  # nothing recorded


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ({"Name": "bridge"}, Forbidden, "operation is not permitted on predefined bridge network "),
        ({"Name": ""}, InvalidParameter, None),
        ({"Name": "x", "Driver": "overlay"}, Unavailable, NOT_A_MANAGER),
        ({"Name": "x", "Driver": "macvlan"}, NotFound, "plugin 'macvlan' not found"),
        ({"Name": "x", "EnableIPv6": True}, NotFound, "could not find an available, "
         "non-overlapping IPv6 address pool among the defaults to assign to the network"),
        ({"Name": "x", "IPAM": {"Config": [{"Subnet": "fd00::/64"}]}}, InvalidParameter,
         "the IPv6 subnet fd00::/64 needs EnableIPv6 (--ipv6)"),
        ({"Name": "x", "EnableIPv6": True,
          "IPAM": {"Config": [{"Subnet": "fd00::/64", "Gateway": "fd01::1"}]}},
         InvalidParameter, "invalid gateway fd01::1: not in subnet fd00::/64"),
        ({"Name": "x", "EnableIPv6": True,
          "IPAM": {"Config": [{"Subnet": "fd00::/64"}, {"Subnet": "fd01::/64"}]}},
         Forbidden, "bridge driver doesn't support multiple subnets"),
        ({"Name": "x", "Options": {"com.docker.network.driver.mtu": "1400"}}, InvalidParameter,
         "the driver option com.docker.network.driver.mtu (-o) is not supported by berth yet"),
        ({"Name": "x", "Options": {"com.docker.network.bridge.enable_icc": "no"}},
         InvalidParameter, "invalid com.docker.network.bridge.enable_icc: expected true or false"),
        ({"Name": "x", "IPAM": {"Config": [{"Gateway": "10.0.0.1"}]}}, InvalidParameter, None),
        ({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.0.0.0/24", "IPRange": "10.1.0.0/24"}]}},
         InvalidParameter, "ip-range 10.1.0.0/24 is not within the subnet 10.0.0.0/24"),
        ({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.0.0.0/24", "Gateway": "10.9.0.1"}]}},
         InvalidParameter, None),
    ],
)  # fmt: skip
def test_bad_requests_are_refused(
    body: dict[str, Any], error: type[BerthError], message: str | None
) -> None:
    with pytest.raises(error) as info:
        parse_network_request(body)
    if message is not None:
        assert info.value.message == message


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=60)
@given(
    st.dictionaries(
        st.sampled_from(["Name", "Driver", "IPAM", "Options", "Labels", "Internal", "EnableIPv6"]),
        st.one_of(
            st.none(),
            st.text(max_size=8),
            st.booleans(),
            st.integers(),
            st.dictionaries(st.text(max_size=4), st.text(max_size=4)),
        ),
    )
)
def test_any_body_is_read_or_refused_with_a_berth_error(body: dict[str, Any]) -> None:
    with contextlib.suppress(BerthError):
        parse_network_request(body)


def test_pools_give_small_subnets_that_overlap_nothing_taken() -> None:
    taken = [ipaddress.IPv4Network("172.17.0.0/24"), ipaddress.IPv4Network("172.17.1.0/25")]
    assert choose_pool(taken) == ("172.17.2.0/24", "172.17.2.1")
    assert choose_pool([ipaddress.IPv4Network("0.0.0.0/0")]) == ("172.17.0.0/24", "172.17.0.1")
    with pytest.raises(Forbidden, match="Pool overlaps"):
        check_no_overlap("172.17.1.0/24", taken)
    check_no_overlap("10.0.0.0/8", taken)


def test_a_defined_network_keeps_its_settings_and_allocates_within_its_range() -> None:
    network = define(
        IPAM={"Config": [{"Subnet": "10.8.0.0/24", "IPRange": "10.8.0.8/29",
                          "AuxiliaryAddresses": {"r": "10.8.0.9"}}]},
        Internal=True, Labels={"k": "v"},
    )  # fmt: skip
    assert (network.internal, network.labels, network.configured) == (True, {"k": "v"}, True)
    assert network.allocate(cid(1), CAUSE) == "10.8.0.8"
    assert network.allocate(cid(2), CAUSE) == "10.8.0.10"  # .9 is an auxiliary address


def test_a_requested_address_is_honoured_and_a_taken_one_refused() -> None:
    network = define(IPAM={"Config": [{"Subnet": "10.8.0.0/24"}]})
    assert network.allocate(cid(1), CAUSE, requested="10.8.0.50") == "10.8.0.50"
    with pytest.raises(Forbidden, match="Address already in use"):
        network.allocate(cid(2), CAUSE, requested="10.8.0.50")
    with pytest.raises(Forbidden, match="Address already in use"):
        network.allocate(cid(2), CAUSE, requested="10.8.0.1")
    with pytest.raises(InvalidParameter, match="does not belong to any of this network's subnets"):
        network.allocate(cid(2), CAUSE, requested="10.9.0.5")


def test_join_and_leave_and_a_second_join_is_refused() -> None:
    network = define()
    network.join(cid(1), "web", {"Aliases": ["w"]}, CAUSE)
    assert network.members == {cid(1): {"Aliases": ["w"]}}
    with pytest.raises(Forbidden, match="endpoint with name web already exists in network front"):
        network.join(cid(1), "web", {}, CAUSE)
    network.leave(cid(1), CAUSE)
    assert network.members == {}
    assert network.departed == [cid(1)]
    network.join(cid(1), "web", {}, CAUSE)
    assert network.departed == []


def test_removed_network_is_defined_again_on_the_same_stream() -> None:
    network = define()
    network.remove(CAUSE)
    request = parse_network_request({"Name": "front", "Labels": {"n": "2"}})
    network.define_again(request, "10.6.0.0/24", "10.6.0.1", CAUSE)
    assert (network.removed, network.subnet, network.labels) == (False, "10.6.0.0/24", {"n": "2"})
    with pytest.raises(Conflict, match="network with name front already exists"):
        network.define_again(request, "10.6.0.0/24", "10.6.0.1", CAUSE)


def test_old_networks_read_the_new_settings_as_the_default_bridge_has_them() -> None:
    old = Network.create(id=NET_ID, name="bridge", subnet="172.30.0.0/16", cause=CAUSE)
    assert (old.internal, old.ip_range, old.members, old.configured) == (False, "", {}, False)
