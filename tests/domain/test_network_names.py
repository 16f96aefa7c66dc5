"""The names of user-defined networks, from containers' inspect documents."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from berth.domain.network_files import resolv_conf
from berth.domain.network_names import NetworkRecords, dns_name, name_server_of, network_records

NET = "1" * 64
OTHER = "2" * 64


def container(
    name: str,
    cid: str,
    networks: dict[str, tuple[str, str, list[str]]],
    *,
    running: bool = True,
) -> dict[str, Any]:
    """An inspect document: `networks` maps a network's name to (id, address, aliases)."""
    return {
        "Id": cid * 64,
        "Name": f"/{name}",
        "State": {"Running": running, "Restarting": False},
        "NetworkSettings": {
            "Networks": {
                network: {
                    "NetworkID": network_id,
                    "IPAddress": address,
                    "IPPrefixLen": 24,
                    "Gateway": address.rsplit(".", 1)[0] + ".1",
                    "Aliases": aliases,
                }
                for network, (network_id, address, aliases) in networks.items()
            }
        },
    }


def test_a_container_is_known_by_name_short_id_and_aliases() -> None:
    records = network_records(
        [container("Web_1", "a", {"app": (NET, "10.5.0.2", ["web", "aaaaaaaaaaaa"])})]
    )
    assert records == {
        NET: NetworkRecords(
            NET,
            ("10.5.0.1",),
            ("10.5.0.0/24",),
            {"aaaaaaaaaaaa": ("10.5.0.2",), "web": ("10.5.0.2",), "web_1": ("10.5.0.2",)},
            ("10.5.0.2",),
        )
    }


def test_an_ipv6_networks_names_have_both_addresses() -> None:
    doc = container("six", "b", {"six": (NET, "10.5.0.3", ["svc"])})
    doc["NetworkSettings"]["Networks"]["six"]["GlobalIPv6Address"] = "2001:389::3"
    records = network_records([doc])[NET]
    assert records.names["svc"] == records.names["six"] == ("10.5.0.3", "2001:389::3")
    assert records.members == ("10.5.0.3",)  # its resolver is asked from the IPv4 address


def test_a_shared_alias_has_every_members_address() -> None:
    records = network_records(
        [
            container(f"web_{n}", str(n), {"app": (NET, f"10.5.0.{n + 1}", ["web"])})
            for n in (1, 2, 3)
        ]
    )
    assert records[NET].names["web"] == ("10.5.0.2", "10.5.0.3", "10.5.0.4")
    assert records[NET].members == ("10.5.0.2", "10.5.0.3", "10.5.0.4")


def test_stopped_containers_and_the_default_networks_have_no_names() -> None:
    records = network_records(
        [
            container("stopped", "a", {"app": (NET, "10.5.0.2", [])}, running=False),
            container("plain", "b", {"bridge": (OTHER, "172.17.0.2", [])}),
        ]
    )
    assert records == {}


def test_each_network_has_only_its_own_names() -> None:
    records = network_records(
        [
            container(
                "both", "a", {"front": (NET, "10.5.0.2", []), "back": (OTHER, "10.6.0.2", [])}
            ),
            container("db", "b", {"back": (OTHER, "10.6.0.3", ["database"])}),
        ]
    )
    assert set(records[NET].names) == {"both", "aaaaaaaaaaaa"}
    assert records[OTHER].names["both"] == ("10.6.0.2",)
    assert records[OTHER].names["database"] == ("10.6.0.3",)


def test_names_that_cannot_be_dns_names_are_left_out() -> None:
    assert dns_name("/a..b") is None
    assert dns_name("/" + "x" * 64) is None
    assert dns_name("/My_App.v2") == "my_app.v2"


addresses = st.ip_addresses(v=4).map(str)


@given(
    names=st.dictionaries(
        st.from_regex(r"[a-z0-9_-]{1,20}(\.[a-z0-9-]{1,10})?", fullmatch=True),
        st.lists(addresses, min_size=1, max_size=3).map(tuple),
        max_size=5,
    ),
    members=st.lists(addresses, max_size=4).map(tuple),
)
def test_records_survive_their_file(
    names: dict[str, tuple[str, ...]], members: tuple[str, ...]
) -> None:
    records = NetworkRecords(NET, ("10.5.0.1",), ("10.5.0.0/24",), names, members)
    records.check()
    assert NetworkRecords.from_json(records.to_json()) == records


def test_a_members_own_resolvers_are_its_upstreams() -> None:
    doc = container("web", "a", {"app": (NET, "10.5.0.2", [])})
    doc["HostConfig"] = {"Dns": ["192.0.2.53"]}
    assert network_records([doc])[NET].upstreams == {"10.5.0.2": ("192.0.2.53",)}


def test_the_nameserver_is_the_first_user_networks_gateway() -> None:
    networks = {
        "bridge": {"Gateway": "172.17.0.1"},
        "app": {"Gateway": "10.5.0.1"},
        "back": {"Gateway": "10.6.0.1"},
    }
    assert name_server_of(networks) == "10.5.0.1"
    assert name_server_of({"bridge": {"Gateway": "172.17.0.1"}}) is None


def test_resolv_conf_on_a_user_network_names_only_the_name_server() -> None:
    host = "nameserver 192.0.2.1\nsearch example\n"
    assert resolv_conf(host, ["10.9.9.9"], embedded="10.5.0.1") == (
        "search example\nnameserver 10.5.0.1\noptions ndots:0\n"
    )
    assert resolv_conf(host, options=["ndots:2"], embedded="10.5.0.1") == (
        "search example\nnameserver 10.5.0.1\noptions ndots:2\n"
    )


def test_a_container_being_started_is_known_from_its_address_on() -> None:
    doc = container("web", "a", {"app": (NET, "10.5.0.2", [])}, running=False)
    doc["State"]["Status"] = "created"
    assert network_records([doc])[NET].names["web"] == ("10.5.0.2",)
    doc["NetworkSettings"]["Networks"]["app"]["IPAddress"] = ""  # created, never started
    assert network_records([doc]) == {}


def test_a_link_is_a_name_only_its_container_resolves() -> None:
    web = container("t_web_1", "a", {"app": (NET, "10.5.0.2", ["web"])})
    run = container("t_client_run", "b", {"app": (NET, "10.5.0.3", [])})
    run["HostConfig"] = {"Links": ["/t_web_1:/t_client_run/db", "t_web_1:cache", "gone:x"]}
    records = network_records([web, run])[NET]
    assert records.private == {"10.5.0.3": {"db": ("10.5.0.2",), "cache": ("10.5.0.2",)}}
    assert "db" not in records.names
    assert NetworkRecords.from_json(records.to_json()) == records


def test_every_address_of_a_container_is_a_member_of_each_of_its_networks() -> None:
    both = container("both", "a", {"front": (NET, "10.5.0.2", []), "back": (OTHER, "10.6.0.2", [])})
    records = network_records([both])
    assert records[NET].members == records[OTHER].members == ("10.5.0.2", "10.6.0.2")
