"""Networking through the Docker API: the real docker CLI publishes a port, `ps` and
`inspect` show Docker's shapes, the docker Python package reads the settings.

Traffic goes only to 127.0.0.1 and to the test containers' own namespaces.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import docker

from berth.runtime.service.network_files import default_bridge_name

from .conftest import BIN, Berthd

HTTPD = "mkdir -p /www && echo hello-api > /www/index.html && exec httpd -f -p 80 -h /www"


def get(url: str) -> str:
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text: str = response.read().decode()
                return text
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_docker_run_publishes_a_port_shown_by_ps_port_and_inspect(berthd: Berthd) -> None:
    run = berthd.docker(
        "run", "-d", "--name", "web", "-p", "127.0.0.1::80", "busybox", "sh", "-c", HTTPD
    )
    assert run.returncode == 0, run.stderr
    (doc,) = json.loads(berthd.docker("inspect", "web").stdout)
    settings = doc["NetworkSettings"]
    (binding,) = settings["Ports"]["80/tcp"]
    host_port = binding["HostPort"]
    assert binding["HostIp"] == "127.0.0.1" and int(host_port) > 0
    assert settings["Networks"]["bridge"]["IPAddress"] == settings["IPAddress"] != ""
    assert get(f"http://127.0.0.1:{host_port}/") == "hello-api\n"
    assert get(f"http://{settings['IPAddress']}/") == "hello-api\n"
    ps = berthd.docker("ps", "--format", "{{.Names}} {{.Ports}}")
    assert ps.stdout.strip() == f"web 127.0.0.1:{host_port}->80/tcp"
    port = berthd.docker("port", "web", "80")
    assert port.stdout.strip() == f"127.0.0.1:{host_port}"
    assert berthd.docker("rm", "-f", "web").returncode == 0


def test_docker_run_with_a_taken_port_fails_with_docker_message(berthd: Berthd) -> None:
    first = berthd.docker("run", "-d", "-p", "127.0.0.1::80", "busybox", "sleep", "30")
    assert first.returncode == 0, first.stderr
    (doc,) = json.loads(berthd.docker("inspect", first.stdout.strip()).stdout)
    taken = doc["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
    second = berthd.docker(
        "run", "--name", "clash", "-p", f"127.0.0.1:{taken}:80", "busybox", "true"
    )
    assert second.returncode == 125
    assert "driver failed programming external connectivity on endpoint clash" in second.stderr
    assert f"Bind for 127.0.0.1:{taken} failed: port is already allocated" in second.stderr
    (state,) = json.loads(berthd.docker("inspect", "clash").stdout)
    assert state["State"]["Status"] == "created"


def test_docker_py_sees_network_modes(berthd: Berthd) -> None:
    client = docker.DockerClient(base_url=f"unix://{berthd.socket}")
    try:
        out = client.containers.run("busybox", ["ls", "/sys/class/net"], network_mode="none")
        assert out.split() == [b"lo"]
        box = client.containers.run("busybox", ["sleep", "30"], detach=True)
        box.reload()
        address = box.attrs["NetworkSettings"]["IPAddress"]
        assert address
        peer = client.containers.run("busybox", ["ping", "-c1", "-W2", address], remove=True)
        assert b"1 packets received" in peer
        box.remove(force=True)
    finally:
        client.close()


def test_berthd_creates_the_bridge_at_boot_on_a_free_subnet(berthd: Berthd) -> None:
    found = re.search(r"bridge=(\S+) subnet=(\S+)", berthd.ready_line)
    assert found, berthd.ready_line
    bridge, subnet = found.group(1), ipaddress.IPv4Network(found.group(2))
    assert bridge == default_bridge_name(berthd.root)
    assert subnet.overlaps(ipaddress.IPv4Network("192.0.2.0/24")) is False
    shown = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "dev", bridge], capture_output=True, text=True
    ).stdout
    assert str(subnet.network_address + 1) in shown


def test_berthd_refuses_a_bip_that_collides_with_a_host_route(tmp_path: Path) -> None:
    routes = subprocess.run(
        ["ip", "-o", "-4", "route", "show"], capture_output=True, text=True, check=True
    ).stdout
    # The host's own link (the default route's device): a bridge of another berthd on
    # this machine may be gone by the time this one starts.
    uplink = next(line.split()[4] for line in routes.splitlines() if line.startswith("default"))
    taken = next(
        ipaddress.IPv4Network(line.split()[0])
        for line in routes.splitlines()
        if not line.startswith("default") and line.split()[2] == uplink
    )
    bip = f"{taken.network_address + 1}/{taken.prefixlen}"
    done = subprocess.run(
        [
            str(BIN / "berthd"),
            "--root",
            str(tmp_path / "root"),
            "-H",
            f"unix://{tmp_path}/b.sock",
            "--bip",
            bip,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"overlaps the host's route to {taken}" in done.stderr
    assert "Traceback" not in done.stderr


def test_docker_network_ls_and_inspect_show_the_bridge_and_its_containers(
    berthd: Berthd,
) -> None:
    listed = berthd.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\n")[:3] == ["bridge bridge", "host host", "none null"]
    run = berthd.docker("run", "-d", "--name", "member", "busybox", "sleep", "30")
    assert run.returncode == 0, run.stderr
    shown = berthd.docker("network", "inspect", "bridge")
    assert shown.returncode == 0, shown.stderr
    (network,) = json.loads(shown.stdout)
    (config,) = network["IPAM"]["Config"]
    (member,) = network["Containers"].values()
    assert member["Name"] == "member"
    assert ipaddress.IPv4Interface(member["IPv4Address"]).network == ipaddress.IPv4Network(
        config["Subnet"]
    )
    missing = berthd.docker("network", "inspect", "nope")
    assert missing.returncode == 1 and "network nope not found" in missing.stderr
