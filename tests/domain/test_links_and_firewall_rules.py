"""Pure rules: legacy links' variables and hosts (dockerd's daemon/links), and the
iptables rules of a root's networks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.errors import InvalidParameter
from berth.domain.firewall_rules import FirewallNetwork, chain_name, restore_text, ruleset
from berth.domain.links import link_env, link_host, parse_link


@pytest.mark.parametrize(
    ("entry", "expected"),
    [("db:data", ("db", "data")), ("db", ("db", "db")), ("/db:/web/data", ("db", "data"))],
)
def test_parse_link(entry: str, expected: tuple[str, str]) -> None:
    assert parse_link(entry) == expected


def test_a_link_without_a_name_is_refused() -> None:
    with pytest.raises(InvalidParameter):
        parse_link(":alias")


def test_link_env_as_dockerd() -> None:
    env = link_env(
        "/web/my-db", "172.17.0.3", ["FOO=1", "PATH=/bin", "HOME=/root", "BROKEN"],
        ["5432/tcp", "80/tcp", "81/tcp", "53/udp"],
    )  # fmt: skip
    assert env == [
        "MY_DB_PORT=udp://172.17.0.3:53",
        # two contiguous ports are no range for dockerd (three are: test_docker_py_links)
        "MY_DB_PORT_53_UDP=udp://172.17.0.3:53",
        "MY_DB_PORT_53_UDP_ADDR=172.17.0.3",
        "MY_DB_PORT_53_UDP_PORT=53",
        "MY_DB_PORT_53_UDP_PROTO=udp",
        "MY_DB_PORT_80_TCP=tcp://172.17.0.3:80",
        "MY_DB_PORT_80_TCP_ADDR=172.17.0.3",
        "MY_DB_PORT_80_TCP_PORT=80",
        "MY_DB_PORT_80_TCP_PROTO=tcp",
        "MY_DB_PORT_81_TCP=tcp://172.17.0.3:81",
        "MY_DB_PORT_81_TCP_ADDR=172.17.0.3",
        "MY_DB_PORT_81_TCP_PORT=81",
        "MY_DB_PORT_81_TCP_PROTO=tcp",
        "MY_DB_PORT_5432_TCP=tcp://172.17.0.3:5432",
        "MY_DB_PORT_5432_TCP_ADDR=172.17.0.3",
        "MY_DB_PORT_5432_TCP_PORT=5432",
        "MY_DB_PORT_5432_TCP_PROTO=tcp",
        "MY_DB_NAME=/web/my-db",
        "MY_DB_ENV_FOO=1",
    ]


def test_link_host_names() -> None:
    assert link_host("db", "abc123", "postgres") == "db abc123 postgres"
    assert link_host("postgres", "abc123", "postgres") == "postgres abc123"


@given(st.lists(st.integers(1, 65535), unique=True, max_size=6), st.sampled_from(["tcp", "udp"]))
def test_every_exposed_port_has_its_four_variables(ports: list[int], proto: str) -> None:
    env = link_env("/p/a", "10.0.0.2", [], [f"{p}/{proto}" for p in ports])
    for port in ports:
        key = f"A_PORT_{port}_{proto.upper()}"
        assert f"{key}=tcp://10.0.0.2:{port}".replace("tcp", proto, 1) in env
        assert f"{key}_ADDR=10.0.0.2" in env
    assert env[-1] == "A_NAME=/p/a"


def test_chain_names_are_per_root() -> None:
    one, two = chain_name("berth-aaaaaaaa"), chain_name("berth-bbbbbbbb")
    assert one != two and one.startswith("BERTH-") and len(one) == 14


def test_rules_per_network_kind() -> None:
    rules = ruleset(
        "BERTH-00000001",
        [
            FirewallNetwork("br-out", "10.1.0.0/24"),
            FirewallNetwork("br-in", "10.2.0.0/24", internal=True),
            FirewallNetwork("br-plain", "10.3.0.0/24", masquerade=False),
        ],
    )
    assert rules.nat == (("-s", "10.1.0.0/24", "!", "-o", "br-out", "-j", "MASQUERADE"),)
    assert ("-i", "br-in", "-j", "DROP") in rules.filter
    assert ("-i", "br-in", "-j", "ACCEPT") not in rules.filter
    out = [r for r in rules.filter if "br-out" in r]
    # another bridge's traffic is dropped before the network's own traffic out is accepted
    assert out.index(("-i", "br-out", "-o", "br-+", "-j", "DROP")) < out.index(
        ("-i", "br-out", "-j", "ACCEPT")
    )
    text = restore_text(rules)
    assert text.startswith("*filter\n:BERTH-00000001 - [0:0]\n")
    assert text.count("COMMIT") == 2


def test_a_network_without_icc_drops_its_own_bridges_traffic() -> None:
    plain = ruleset("BERTH-00000001", [FirewallNetwork("br-a", "10.1.0.0/24")])
    assert plain.bridge_filtering is False
    assert ("-i", "br-a", "-o", "br-a", "-j", "ACCEPT") in plain.filter
    rules = ruleset(
        "BERTH-00000001",
        [FirewallNetwork("br-a", "10.1.0.0/24"), FirewallNetwork("br-b", "10.2.0.0/24", icc=False)],
    )
    assert rules.bridge_filtering is True
    assert ("-i", "br-b", "-o", "br-b", "-j", "DROP") in rules.filter
    assert ("-i", "br-a", "-o", "br-a", "-j", "ACCEPT") in rules.filter
    assert rules.nat == (
        ("-s", "10.1.0.0/24", "!", "-o", "br-a", "-j", "MASQUERADE"),
        ("-s", "10.2.0.0/24", "!", "-o", "br-b", "-j", "MASQUERADE"),
    )  # egress stays


def test_three_contiguous_ports_are_a_range() -> None:
    env = link_env("/p/db", "10.0.0.2", [], ["80/tcp", "81/tcp", "82/tcp"])
    assert env[1:7] == [
        "DB_PORT_80_TCP_START=tcp://10.0.0.2:80",
        "DB_PORT_80_TCP_ADDR=10.0.0.2",
        "DB_PORT_80_TCP_PROTO=tcp",
        "DB_PORT_80_TCP_PORT_START=80",
        "DB_PORT_80_TCP_END=tcp://10.0.0.2:82",
        "DB_PORT_80_TCP_PORT_END=82",
    ]
