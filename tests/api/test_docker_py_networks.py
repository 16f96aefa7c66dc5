"""docker-py's network tests (tests/integration/api_network_test.py and
models_networks_test.py), ported against berthd with busybox.

The swarm tests (attachable overlay, ingress, scope=swarm) have no counterpart: berth has
no swarm.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from docker.types import IPAMConfig, IPAMPool

from .conftest import Berthd
from .docker_py import cleaned_api

TEST_IMG = "busybox"
TOP = ["sleep", "300"]  # docker-py runs `top`; busybox's needs a terminal


def random_name() -> str:
    return f"dockerpytest_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api(berthd: Berthd) -> Iterator[docker.APIClient]:
    yield from cleaned_api(berthd)


def create_network(api: docker.APIClient, *args: object, **kwargs: object) -> tuple[str, str]:
    name = random_name()
    return name, api.create_network(name, *args, **kwargs)["Id"]


def create_and_start(api: docker.APIClient, **kwargs: object) -> str:
    container_id: str = api.create_container(TEST_IMG, TOP, **kwargs)["Id"]
    api.start(container_id)
    return container_id


def create_on(api: docker.APIClient, network: str, **endpoint: Any) -> str:
    """A container whose endpoint on `network` (its NetworkMode) asks `endpoint`."""
    container_id: str = api.create_container(
        TEST_IMG,
        TOP,
        host_config=api.create_host_config(network_mode=network),
        networking_config=api.create_networking_config(
            {network: api.create_endpoint_config(**endpoint)}
        ),
    )["Id"]
    return container_id


def test_list_networks(api: docker.APIClient) -> None:
    name, network_id = create_network(api)
    assert network_id in [n["Id"] for n in api.networks()]
    assert [n["Id"] for n in api.networks(names=[name])] == [network_id]
    assert [n["Id"] for n in api.networks(ids=[network_id[:8]])] == [network_id]


def test_inspect_network(api: docker.APIClient) -> None:
    name, network_id = create_network(api)
    network = api.inspect_network(network_id)
    assert (network["Id"], network["Name"]) == (network_id, name)
    assert (network["Driver"], network["Scope"]) == ("bridge", "local")
    assert network["IPAM"]["Driver"] == "default"


def test_create_network_with_ipam_config(api: docker.APIClient) -> None:
    pool = IPAMPool(
        subnet="172.28.0.0/16",
        iprange="172.28.5.0/24",
        gateway="172.28.5.254",
        aux_addresses={"a": "172.28.1.5", "b": "172.28.1.6", "c": "172.28.1.7"},
    )
    _, network_id = create_network(api, ipam=IPAMConfig(driver="default", pool_configs=[pool]))
    ipam = api.inspect_network(network_id)["IPAM"]
    assert ipam.pop("Options", None) is None
    assert ipam["Driver"] == "default"
    assert ipam["Config"] == [
        {
            "Subnet": "172.28.0.0/16",
            "IPRange": "172.28.5.0/24",
            "Gateway": "172.28.5.254",
            "AuxiliaryAddresses": {"a": "172.28.1.5", "b": "172.28.1.6", "c": "172.28.1.7"},
        }
    ]


def test_create_network_with_host_driver_fails(api: docker.APIClient) -> None:
    with pytest.raises(docker.errors.APIError):
        api.create_network(random_name(), driver="host")


def test_remove_network(api: docker.APIClient) -> None:
    name, network_id = create_network(api)
    assert name in [n["Name"] for n in api.networks()]
    api.remove_network(network_id)
    assert name not in [n["Name"] for n in api.networks()]


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_connect_and_disconnect_container(api: docker.APIClient, force: bool) -> None:
    _, network_id = create_network(api)
    container = create_and_start(api)
    assert not api.inspect_network(network_id).get("Containers")
    api.connect_container_to_network(container, network_id)
    assert list(api.inspect_network(network_id)["Containers"]) == [container]
    if not force:
        with pytest.raises(docker.errors.APIError):
            api.connect_container_to_network(container, network_id)
    api.disconnect_container_from_network(container, network_id, force)
    assert not api.inspect_network(network_id).get("Containers")
    with pytest.raises(docker.errors.APIError):
        api.disconnect_container_from_network(container, network_id, force)


def test_connect_with_aliases(api: docker.APIClient) -> None:
    name, network_id = create_network(api)
    container = create_and_start(api)
    api.connect_container_to_network(container, network_id, aliases=["foo", "bar"])
    aliases = api.inspect_container(container)["NetworkSettings"]["Networks"][name]["Aliases"]
    assert "foo" in aliases and "bar" in aliases


def test_connect_on_container_create(api: docker.APIClient) -> None:
    name, network_id = create_network(api)
    container = create_and_start(api, host_config=api.create_host_config(network_mode=name))
    assert list(api.inspect_network(network_id)["Containers"]) == [container]
    api.disconnect_container_from_network(container, network_id)
    assert not api.inspect_network(network_id).get("Containers")


def test_create_with_aliases(api: docker.APIClient) -> None:
    name, _ = create_network(api)
    container = create_and_start(
        api,
        host_config=api.create_host_config(network_mode=name),
        networking_config=api.create_networking_config(
            {name: api.create_endpoint_config(aliases=["foo", "bar"])}
        ),
    )
    aliases = api.inspect_container(container)["NetworkSettings"]["Networks"][name]["Aliases"]
    assert "foo" in aliases and "bar" in aliases


def test_create_with_ipv4_address(api: docker.APIClient) -> None:
    ipam = IPAMConfig(driver="default", pool_configs=[IPAMPool(subnet="132.124.0.0/16")])
    name, _ = create_network(api, ipam=ipam)
    container = create_and_start(
        api,
        host_config=api.create_host_config(network_mode=name),
        networking_config=api.create_networking_config(
            {name: api.create_endpoint_config(ipv4_address="132.124.0.23")}
        ),
    )
    settings = api.inspect_container(container)["NetworkSettings"]
    assert settings["Networks"][name]["IPAMConfig"]["IPv4Address"] == "132.124.0.23"
    assert settings["Networks"][name]["IPAddress"] == "132.124.0.23"


def test_create_with_ipv6_address(api: docker.APIClient) -> None:
    name, _ = create_network(
        api, enable_ipv6=True, ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="2001:389::/64")])
    )
    container = create_on(api, name, ipv6_address="2001:389::f00d")
    api.start(container)
    endpoint = api.inspect_container(container)["NetworkSettings"]["Networks"][name]
    assert endpoint["IPAMConfig"]["IPv6Address"] == "2001:389::f00d"
    assert (endpoint["GlobalIPv6Address"], endpoint["GlobalIPv6PrefixLen"]) == (
        "2001:389::f00d", 64
    )  # fmt: skip
    assert endpoint["IPv6Gateway"] == "2001:389::1"
    shown = api.exec_create(container, ["ip", "-6", "addr", "show", "eth0"])
    assert "inet6 2001:389::f00d/64" in api.exec_start(shown).decode()
    routes = api.exec_create(container, ["ip", "-6", "route"])
    assert "default via 2001:389::1 dev eth0" in api.exec_start(routes).decode()
    ping = api.exec_create(container, ["ping", "-c", "1", "-W", "5", "2001:389::1"])
    assert b" 0% packet loss" in api.exec_start(ping)  # the bridge answers as the gateway


def test_connect_with_ipv6_address(api: docker.APIClient) -> None:
    pool = IPAMPool(subnet="2001:389::/64", iprange="2001:389::0/96", gateway="2001:389::ffff")
    name, network_id = create_network(api, enable_ipv6=True, ipam=IPAMConfig(pool_configs=[pool]))
    container = create_and_start(api, host_config=api.create_host_config(network_mode=name))
    first = api.inspect_container(container)["NetworkSettings"]["Networks"][name]
    assert first["GlobalIPv6Address"] == "2001:389::1"  # the gateway is ::ffff
    other = create_and_start(api, host_config=api.create_host_config(network_mode=name))
    api.disconnect_container_from_network(container, name)
    api.connect_container_to_network(container, name, ipv6_address="2001:389::f00d")
    endpoint = api.inspect_container(container)["NetworkSettings"]["Networks"][name]
    assert endpoint["IPAMConfig"]["IPv6Address"] == "2001:389::f00d"
    assert endpoint["GlobalIPv6Address"] == "2001:389::f00d"
    members = api.inspect_network(network_id)["Containers"]
    assert members[container]["IPv6Address"] == "2001:389::f00d/64"
    ping = api.exec_create(other, ["ping", "-c", "1", "-W", "5", "2001:389::f00d"])
    assert b" 0% packet loss" in api.exec_start(ping)  # container to container


def test_create_network_ipv6_enabled(api: docker.APIClient) -> None:
    pool = IPAMPool(subnet="2001:389::/64", iprange="2001:389::0/96", gateway="2001:389::ffff")
    _, network_id = create_network(api, enable_ipv6=True, ipam=IPAMConfig(pool_configs=[pool]))
    network = api.inspect_network(network_id)
    assert network["EnableIPv6"] is True
    v4, v6 = network["IPAM"]["Config"]
    assert v4["Subnet"].endswith(".0/24")  # from the pools: dockerd 20.10 has no IPv6 ones
    assert v6 == {  # as given, as dockerd 20.10 shows it
        "Subnet": "2001:389::/64", "Gateway": "2001:389::ffff", "IPRange": "2001:389::0/96"
    }  # fmt: skip
    with pytest.raises(docker.errors.APIError, match="Pool overlaps"):
        api.create_network(random_name(), enable_ipv6=True, ipam=IPAMConfig(pool_configs=[pool]))
    with pytest.raises(docker.errors.NotFound, match="non-overlapping IPv6 address pool"):
        api.create_network(random_name(), enable_ipv6=True)


def test_an_ipv6_address_on_a_network_without_ipv6_fails_the_start(api: docker.APIClient) -> None:
    """As dockerd's: create checks the address's form, the start what the network gives."""
    name, _ = create_network(api)
    for network, message in ((name, "user configured subnets"), ("bridge", "user defined")):
        container = create_on(api, network, ipv6_address="fd00::9")
        with pytest.raises(docker.errors.APIError, match=message):
            api.start(container)
        assert api.inspect_container(container)["State"]["Status"] == "created"
    for asked, message in (
        ({"ipv6_address": "zzz"}, "invalid IPv6 address: zzz"),
        ({"ipv6_address": "10.0.0.9"}, "invalid IPv6 address: 10.0.0.9"),
        ({"ipv4_address": "fd00::9"}, "invalid IPv4 address: fd00::9"),
        ({"link_local_ips": ["169.254.1.1", "x"]}, r"Invalid link-local IP address: \[169"),
    ):
        with pytest.raises(docker.errors.APIError, match=message) as refused:
            create_on(api, name, **asked)
        assert refused.value.status_code == 400
    assert len(api.containers(all=True)) == 2  # the two above, nothing more


def test_create_with_linklocal_ips(api: docker.APIClient) -> None:
    container = create_on(api, "bridge", link_local_ips=["169.254.8.8", "fe80::8"])
    api.start(container)
    endpoint = api.inspect_container(container)["NetworkSettings"]["Networks"]["bridge"]
    assert endpoint["IPAMConfig"]["LinkLocalIPs"] == ["169.254.8.8", "fe80::8"]
    shown = api.exec_start(api.exec_create(container, ["ip", "addr", "show", "eth0"])).decode()
    # As libnetwork's: IPv4 addresses with their broadcast address.
    assert "inet 169.254.8.8/16 brd 169.254.255.255 " in shown and "inet6 fe80::8/64" in shown
    assert " brd 172." in shown.split("inet 169.254")[0]  # the endpoint's own address


def test_create_with_driveropt(api: docker.APIClient) -> None:
    """dockerd 20.10's bridge driver keeps an endpoint's options and reads none of them."""
    container = create_on(api, "bridge", driver_opt={"com.docker-py.setting": "on"})
    created = api.inspect_container(container)["NetworkSettings"]["Networks"]["bridge"]
    assert created["DriverOpts"] == {"com.docker-py.setting": "on"}
    api.start(container)
    endpoint = api.inspect_container(container)["NetworkSettings"]["Networks"]["bridge"]
    assert endpoint["DriverOpts"] == {"com.docker-py.setting": "on"}


def test_create_check_duplicate(api: docker.APIClient) -> None:
    name, _ = create_network(api)
    with pytest.raises(docker.errors.APIError):
        api.create_network(name, check_duplicate=True)


def test_connect_with_ipv4_address(api: docker.APIClient) -> None:
    pool = IPAMPool(subnet="172.28.0.0/16", iprange="172.28.5.0/24", gateway="172.28.5.254")
    name, _ = create_network(api, ipam=IPAMConfig(driver="default", pool_configs=[pool]))
    container = create_and_start(api, host_config=api.create_host_config(network_mode=name))
    api.disconnect_container_from_network(container, name)
    api.connect_container_to_network(container, name, ipv4_address="172.28.5.24")
    endpoint = api.inspect_container(container)["NetworkSettings"]["Networks"][name]
    assert endpoint["IPAMConfig"]["IPv4Address"] == "172.28.5.24"
    assert endpoint["IPAddress"] == "172.28.5.24"


def test_connect_with_mac_address(api: docker.APIClient) -> None:
    name, _ = create_network(api)
    container = api.create_container(TEST_IMG, TOP)["Id"]
    api.connect_container_to_network(container, name, mac_address="02:42:ac:11:00:02")
    endpoint = api.inspect_container(container)["NetworkSettings"]["Networks"][name]
    assert endpoint["MacAddress"] == "02:42:ac:11:00:02"


def test_create_internal_networks(api: docker.APIClient) -> None:
    _, network_id = create_network(api, internal=True)
    assert api.inspect_network(network_id)["Internal"] is True


def test_create_network_with_labels(api: docker.APIClient) -> None:
    _, network_id = create_network(api, labels={"com.docker.py.test": "label"})
    assert api.inspect_network(network_id)["Labels"] == {"com.docker.py.test": "label"}


def test_create_network_with_labels_wrong_type(api: docker.APIClient) -> None:
    with pytest.raises(TypeError):
        create_network(api, labels=["com.docker.py.test=label"])


def test_prune_networks(api: docker.APIClient) -> None:
    name, _ = create_network(api)
    assert name in api.prune_networks()["NetworksDeleted"]


def test_create_remove_network_with_space_in_name(api: docker.APIClient) -> None:
    api.create_network("test 01")
    assert api.inspect_network("test 01")
    assert api.remove_network("test 01") is None


# models_networks_test.py ----------------------------------------------------------------


@pytest.fixture
def client(berthd: Berthd, api: docker.APIClient) -> Iterator[docker.DockerClient]:
    models = docker.DockerClient(base_url=f"unix://{berthd.socket}", version="1.41")
    try:
        yield models
    finally:
        models.close()


def test_models_create_get_list_remove(client: docker.DockerClient) -> None:
    name = random_name()
    network = client.networks.create(name, labels={"foo": "bar"})
    assert network.name == name and network.attrs["Labels"]["foo"] == "bar"
    assert client.networks.get(network.id).name == name
    assert network.id in [n.id for n in client.networks.list()]
    assert network.id not in [n.id for n in client.networks.list(ids=["fdhjklfdfdshjkfds"])]
    assert network.id in [n.id for n in client.networks.list(ids=[network.id])]
    assert network.id not in [n.id for n in client.networks.list(names=["fdshjklfdsjhkl"])]
    assert network.id in [n.id for n in client.networks.list(names=[name])]
    network.remove()
    assert network.id not in [n.id for n in client.networks.list()]


def test_models_connect_disconnect(client: docker.DockerClient) -> None:
    network = client.networks.create(random_name())
    container = client.containers.create(TEST_IMG, "sleep 300")
    assert network.containers == []
    network.connect(container)
    container.start()
    assert client.networks.get(network.id).containers == [container]
    found = [
        c for net in client.networks.list(ids=[network.id], greedy=True) for c in net.containers
    ]
    assert found == [container]
    network.disconnect(container)
    assert network.containers == []
    assert client.networks.get(network.id).containers == []


def test_connect_with_links_is_in_inspect_at_once(api: docker.APIClient) -> None:
    """docker-py's test_connect_with_links: a container started on a network, disconnected
    and connected again with links, inspected (by full id) right after each, shows the
    endpoint as the request left it. It raced the views about one round in five."""
    for _ in range(8):
        name, _ = create_network(api)
        container = create_and_start(api, host_config=api.create_host_config(network_mode=name))
        api.disconnect_container_from_network(container, name)
        assert name not in api.inspect_container(container)["NetworkSettings"]["Networks"]
        api.connect_container_to_network(container, name, links=[("upstream", "bar")])
        endpoint = api.inspect_container(container)["NetworkSettings"]["Networks"][name]
        assert endpoint["Links"] == ["upstream:bar"]
        assert endpoint["IPAddress"] and endpoint["EndpointID"]
    create_and_start(api, name="upstream", host_config=api.create_host_config(network_mode=name))
    exec_id = api.exec_create(container, ["ping", "-c", "1", "-W", "5", "bar"])["Id"]
    api.exec_start(exec_id)
    assert api.exec_inspect(exec_id)["ExitCode"] == 0


def test_names_on_an_ipv6_network_answer_both_families(api: docker.APIClient) -> None:
    pool = IPAMPool(subnet="fd00:77::/64")
    name, _ = create_network(api, enable_ipv6=True, ipam=IPAMConfig(pool_configs=[pool]))
    on_network = api.create_host_config(network_mode=name)
    server = api.create_container(TEST_IMG, TOP, name=random_name(), host_config=on_network)
    api.start(server)
    client = create_and_start(api, host_config=on_network)
    server_name = api.inspect_container(server)["Name"].lstrip("/")
    for query, answer in ((["-type=AAAA"], "fd00:77::2"), ([], "172.")):
        lookup = api.exec_create(client, ["busybox", "nslookup", *query, server_name])
        assert f"Address: {answer}" in api.exec_start(lookup).decode()
