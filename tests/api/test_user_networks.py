"""User-defined networks through the real docker CLI against berthd: create, inspect, ls
with filters, connect/disconnect, rm, prune, events, and traffic between the tests' own
containers (real namespaces, veths and bridges; nothing leaves the host)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time

import docker

from berth.runtime.service.network_files import default_bridge_name, user_bridge_name

from .conftest import Berthd


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def bridge_exists(name: str) -> bool:
    shown = subprocess.run(["ip", "link", "show", name], capture_output=True, text=True)
    return shown.returncode == 0


def inspect(berthd: Berthd, *refs: str, kind: str = "") -> list[dict]:  # type: ignore[type-arg]
    args = ("network", "inspect", *refs) if kind == "network" else ("inspect", *refs)
    found: list[dict] = json.loads(ok(berthd.docker(*args)))  # type: ignore[type-arg]
    return found


def ping(berthd: Berthd, network: str, address: str) -> bool:
    """Whether a new container on `network` reaches `address`."""
    done = berthd.docker(
        "run", "--rm", "--network", network, "busybox", "ping", "-c1", "-W1", address
    )
    return done.returncode == 0


def test_create_inspect_ls_and_rm_as_dockerd(berthd: Berthd) -> None:
    network_id = ok(
        berthd.docker(
            "network", "create", "--subnet", "10.213.0.0/24", "--gateway", "10.213.0.254",
            "--ip-range", "10.213.0.128/25", "--aux-address", "r=10.213.0.130",
            "--label", "team=a", "--attachable", "front",
        )
    )  # fmt: skip
    (doc,) = inspect(berthd, "front", kind="network")
    assert doc["Id"] == network_id and doc["Name"] == "front"
    assert (doc["Driver"], doc["Scope"], doc["Attachable"], doc["Internal"]) == (
        "bridge", "local", True, False,
    )  # fmt: skip
    assert doc["IPAM"]["Config"] == [
        {"Subnet": "10.213.0.0/24", "Gateway": "10.213.0.254", "IPRange": "10.213.0.128/25",
         "AuxiliaryAddresses": {"r": "10.213.0.130"}}
    ]  # fmt: skip
    assert doc["Labels"] == {"team": "a"} and doc["Containers"] == {}
    bridge = user_bridge_name(default_bridge_name(berthd.root), network_id)
    assert bridge_exists(bridge)
    again = berthd.docker("network", "create", "front")
    assert again.returncode == 1
    assert "network with name front already exists" in again.stderr
    names = ok(berthd.docker("network", "ls", "--format", "{{.Name}}")).split()
    assert names[:1] == ["bridge"] and sorted(names) == ["bridge", "front", "host", "none"]
    custom = ok(berthd.docker("network", "ls", "-q", "--filter", "type=custom"))
    assert custom == network_id[:12]
    labelled = ok(berthd.docker("network", "ls", "--format", "{{.Name}}", "-f", "label=team=a"))
    assert labelled == "front"
    assert ok(berthd.docker("network", "ls", "-q", "-f", "dangling=true")) == network_id[:12]
    refused = berthd.docker("network", "rm", "bridge")
    assert "bridge is a pre-defined network and cannot be removed" in refused.stderr
    assert ok(berthd.docker("network", "rm", "front")) == "front"
    assert not bridge_exists(bridge)
    missing = berthd.docker("network", "inspect", "front")
    assert missing.returncode == 1 and "network front not found" in missing.stderr


def test_containers_on_one_network_reach_each_other_and_not_across(berthd: Berthd) -> None:
    ok(berthd.docker("network", "create", "--subnet", "10.214.1.0/24", "one"))
    ok(berthd.docker("network", "create", "--subnet", "10.214.2.0/24", "two"))
    for name, network in (("ca", "one"), ("cb", "one"), ("cc", "two")):
        ok(berthd.docker("run", "-d", "--name", name, "--network", network, "busybox",
                         "sleep", "60"))  # fmt: skip
    docs = {d["Name"].lstrip("/"): d for d in inspect(berthd, "ca", "cb", "cc")}
    address = {n: d["NetworkSettings"]["Networks"][next(iter(d["NetworkSettings"]["Networks"]))]
               ["IPAddress"] for n, d in docs.items()}  # fmt: skip
    endpoint = docs["ca"]["NetworkSettings"]["Networks"]["one"]
    assert ipaddress.IPv4Address(endpoint["IPAddress"]) in ipaddress.IPv4Network("10.214.1.0/24")
    assert endpoint["Gateway"] == "10.214.1.1" and endpoint["IPPrefixLen"] == 24
    assert endpoint["Aliases"] == [docs["ca"]["Id"][:12]]
    assert endpoint["DriverOpts"] is None and endpoint["NetworkID"]
    assert list(docs["ca"]["NetworkSettings"]["Networks"]) == ["one"]
    assert ping(berthd, "one", address["cb"])
    assert not ping(berthd, "one", address["cc"])
    (network,) = inspect(berthd, "one", kind="network")
    members = {m["Name"]: m for m in network["Containers"].values()}
    assert sorted(members) == ["ca", "cb"]
    assert members["ca"]["IPv4Address"] == f"{address['ca']}/24"
    assert members["ca"]["EndpointID"] == endpoint["EndpointID"]
    busy = berthd.docker("network", "rm", "one")
    assert busy.returncode == 1
    # dockerd's 403, its words once (they were said twice).
    assert "Error response from daemon: error while removing network: network one id" in (
        busy.stderr
    )
    assert "has active endpoints" in busy.stderr
    ok(berthd.docker("rm", "-f", "ca", "cb", "cc"))
    ok(berthd.docker("network", "rm", "one", "two"))


def test_a_container_on_two_networks_reaches_both(berthd: Berthd) -> None:
    ok(berthd.docker("network", "create", "--subnet", "10.218.1.0/24", "near"))
    ok(berthd.docker("network", "create", "--subnet", "10.218.2.0/24", "far"))
    for name, network, ip in (("n1", "near", "10.218.1.10"), ("f1", "far", "10.218.2.10")):
        ok(berthd.docker("run", "-d", "--name", name, "--network", network, "--ip", ip,
                         "busybox", "sleep", "60"))  # fmt: skip
    script = "ping -c1 -W2 10.218.1.10 && ping -c1 -W2 10.218.2.10 && ip -o -4 addr"
    ok(berthd.docker("create", "--name", "both", "--network", "near", "--network-alias",
                     "nearby", "busybox", "sh", "-c", script))  # fmt: skip
    ok(berthd.docker("network", "connect", "far", "both"))
    (doc,) = inspect(berthd, "both")
    assert sorted(doc["NetworkSettings"]["Networks"]) == ["far", "near"]
    assert doc["NetworkSettings"]["Networks"]["far"]["IPAddress"] == ""
    assert doc["NetworkSettings"]["Networks"]["near"]["Aliases"] == ["nearby"]
    started = berthd.docker("start", "-a", "both")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "eth0" in started.stdout and "eth1" in started.stdout
    (doc,) = inspect(berthd, "both")
    assert doc["NetworkSettings"]["Networks"]["near"]["Aliases"] == ["nearby", doc["Id"][:12]]
    ok(berthd.docker("rm", "-f", "n1", "f1", "both"))
    ok(berthd.docker("network", "rm", "near", "far"))


def test_connect_and_disconnect_a_running_container(berthd: Berthd) -> None:
    ok(berthd.docker("network", "create", "--subnet", "10.215.1.0/24", "left"))
    ok(berthd.docker("network", "create", "--subnet", "10.215.2.0/24", "right"))
    ok(berthd.docker("run", "-d", "--name", "cl", "--network", "left", "busybox", "sleep", "60"))
    assert not ping(berthd, "right", "10.215.2.9")
    ok(berthd.docker("network", "connect", "--alias", "hub", "--ip", "10.215.2.9", "right", "cl"))
    (doc,) = inspect(berthd, "cl")
    networks = doc["NetworkSettings"]["Networks"]
    assert sorted(networks) == ["left", "right"]
    assert networks["right"]["IPAddress"] == "10.215.2.9"
    assert networks["right"]["Aliases"] == ["hub", doc["Id"][:12]]
    assert ping(berthd, "right", "10.215.2.9")  # the veth went into the live namespace
    assert ping(berthd, "left", networks["left"]["IPAddress"])
    twice = berthd.docker("network", "connect", "right", "cl")
    assert "endpoint with name cl already exists in network right" in twice.stderr
    ok(berthd.docker("network", "disconnect", "right", "cl"))
    (doc,) = inspect(berthd, "cl")
    assert list(doc["NetworkSettings"]["Networks"]) == ["left"]
    assert not ping(berthd, "right", "10.215.2.9")
    assert ping(berthd, "left", networks["left"]["IPAddress"])
    ok(berthd.docker("rm", "-f", "cl"))
    ok(berthd.docker("network", "rm", "left", "right"))


def test_ip_is_honoured_and_a_taken_one_refused(berthd: Berthd) -> None:
    ok(berthd.docker("network", "create", "--subnet", "10.216.0.0/24", "fixed"))
    client = docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41")
    try:  # the docker CLI sends --mac-address per network, which needs API 1.44
        created = client.create_container(
            "busybox", "sleep 60", name="cx", mac_address="02:42:0a:d8:00:99",
            host_config=client.create_host_config(network_mode="fixed"),
            networking_config=client.create_networking_config(
                {"fixed": client.create_endpoint_config(ipv4_address="10.216.0.77")}
            ),
        )  # fmt: skip
        client.start(created["Id"])
    finally:
        client.close()
    (doc,) = inspect(berthd, "cx")
    endpoint = doc["NetworkSettings"]["Networks"]["fixed"]
    assert endpoint["IPAddress"] == "10.216.0.77"
    assert endpoint["MacAddress"] == "02:42:0a:d8:00:99"
    assert endpoint["IPAMConfig"] == {"IPv4Address": "10.216.0.77"}
    assert ping(berthd, "fixed", "10.216.0.77")
    taken = berthd.docker("run", "--name", "cy", "--network", "fixed", "--ip", "10.216.0.77",
                          "busybox", "true")  # fmt: skip
    assert taken.returncode != 0 and "Address already in use" in taken.stderr
    on_default = berthd.docker("run", "--rm", "--ip", "172.17.0.9", "busybox", "true")
    assert "user specified IP address is supported on user defined networks only" in (
        on_default.stderr
    )
    ok(berthd.docker("rm", "-f", "cx", "cy"))
    ok(berthd.docker("network", "rm", "fixed"))


def test_prune_and_events(berthd: Berthd) -> None:
    ok(berthd.docker("network", "create", "--label", "keep=1", "kept"))
    ok(berthd.docker("network", "create", "gone"))
    ok(berthd.docker("network", "create", "--subnet", "10.217.0.0/24", "used"))
    ok(berthd.docker("run", "-d", "--name", "cu", "--network", "used", "busybox", "sleep", "60"))
    pruned = ok(berthd.docker("network", "prune", "-f", "--filter", "label!=keep"))
    assert pruned.split() == ["Deleted", "Networks:", "gone"]
    names = ok(berthd.docker("network", "ls", "--format", "{{.Name}}")).split()
    assert sorted(names) == ["bridge", "host", "kept", "none", "used"]
    ok(berthd.docker("rm", "-f", "cu"))
    ok(berthd.docker("network", "rm", "kept", "used"))
    events = ok(
        berthd.docker(
            "events", "--since", "0", "--until", str(int(time.time()) + 2),
            "--filter", "type=network", "--format", "{{.Action}} {{.Actor.Attributes.name}}",
        )
    ).splitlines()  # fmt: skip
    assert "create gone" in events and "destroy gone" in events
    assert "connect used" in events and "disconnect used" in events


def test_the_id_of_a_container_is_no_network(berthd: Berthd) -> None:
    container_id = ok(berthd.docker("create", "busybox", "true"))
    for ref in (container_id, container_id[:12]):
        found = berthd.docker("network", "inspect", ref)
        assert found.returncode == 1 and f"network {ref} not found" in found.stderr
        assert "Error response from daemon: network" in found.stderr
    ok(berthd.docker("rm", container_id))


def test_a_network_without_icc_keeps_its_containers_apart(berthd: Berthd) -> None:
    """`-o com.docker.network.bridge.enable_icc=false`: as dockerd's, containers of the
    network cannot reach each other (its bridge's own traffic is dropped), the gateway
    they still reach; the option is shown as given."""
    ok(berthd.docker(
        "network", "create", "--subnet", "10.219.0.0/24",
        "-o", "com.docker.network.bridge.enable_icc=false", "apart",
    ))  # fmt: skip
    ok(berthd.docker(
        "network", "create", "--subnet", "10.219.1.0/24", "together",
    ))  # fmt: skip
    for network, address in (("apart", "10.219.0.10"), ("together", "10.219.1.10")):
        ok(berthd.docker("run", "-d", "--network", network, "--ip", address, "--name",
                         f"server-{network}", "busybox", "sleep", "300"))  # fmt: skip
    assert not ping(berthd, "apart", "10.219.0.10")
    assert ping(berthd, "apart", "10.219.0.1")  # the gateway
    assert ping(berthd, "together", "10.219.1.10")
    (doc,) = inspect(berthd, "apart", kind="network")
    assert doc["Options"] == {"com.docker.network.bridge.enable_icc": "false"}
