"""docker-py's test_create_with_links, test_remove_link (LinkTest) and
test_create_with_mac_address (tests/integration/api_container_test.py), ported against
berthd with busybox; and what links and `--add-host host-gateway` put in /etc/hosts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import docker
import pytest

from .conftest import Berthd
from .docker_py import cleaned_api

TEST_IMG = "busybox"


@pytest.fixture
def api(berthd: Berthd) -> Iterator[docker.APIClient]:
    yield from cleaned_api(berthd)


def started(api: docker.APIClient, command: object, **options: object) -> str:
    container_id: str = api.create_container(TEST_IMG, command, **options)["Id"]
    api.start(container_id)
    return container_id


def test_create_with_links(api: docker.APIClient) -> None:
    first = started(api, ["sleep", "60"], environment={"FOO": "1"})
    second = started(api, ["sleep", "60"], environment={"FOO": "1"}, ports=[80, 81, 82])
    path1 = api.inspect_container(first)["Name"][1:]
    path2 = api.inspect_container(second)["Name"][1:]
    third = started(
        api,
        ["sh", "-c", "env"],  # docker-py runs `env`; this busybox has it as a builtin only
        host_config=api.create_host_config(
            links={path1: "mylink1", path2: "mylink2"}, network_mode="bridge"
        ),
    )
    assert api.wait(third)["StatusCode"] == 0
    logs = api.logs(third).decode()
    address2 = api.inspect_container(second)["NetworkSettings"]["IPAddress"]
    parent = api.inspect_container(third)["Name"][1:]
    for prefix in ("MYLINK1", "MYLINK2"):
        assert f"{prefix}_NAME=/{parent}/{prefix.lower()}" in logs
        assert f"{prefix}_ENV_FOO=1" in logs
    assert f"MYLINK2_PORT=tcp://{address2}:80" in logs
    assert f"MYLINK2_PORT_81_TCP_ADDR={address2}" in logs
    assert f"MYLINK2_PORT_80_TCP_START=tcp://{address2}:80" in logs
    assert "MYLINK2_PORT_80_TCP_PORT_END=82" in logs
    assert "MYLINK1_ENV_PATH" not in logs


def test_remove_link(api: docker.APIClient) -> None:
    first = started(api, ["sleep", "60"])
    link_path = api.inspect_container(first)["Name"][1:]
    second = started(
        api, ["sh", "-c", "env; sleep 60"],
        host_config=api.create_host_config(links={link_path: "mylink"}),
    )  # fmt: skip
    linked_name = api.inspect_container(second)["Name"][1:]
    link_name = f"{linked_name}/mylink"
    api.remove_container(link_name, link=True)
    containers = api.containers(all=True)
    assert [c for c in containers if link_name in c["Names"]] == []
    assert len([c for c in containers if f"/{linked_name}" in c["Names"]]) == 1
    api.restart(second, timeout=1)  # its next start has no link any more
    api.stop(second, timeout=1)
    assert "MYLINK_NAME" not in api.logs(second).decode().split("MYLINK_NAME", 1)[-1]
    with pytest.raises(docker.errors.NotFound):
        api.remove_container(f"{linked_name}/nolink", link=True)


def test_create_with_mac_address(api: docker.APIClient) -> None:
    expected = "02:42:ac:11:00:0a"
    container = started(api, ["sleep", "60"], mac_address=expected)
    assert api.inspect_container(container)["NetworkSettings"]["MacAddress"] == expected
    api.kill(container)


def test_links_and_host_gateway_in_etc_hosts(berthd: Berthd) -> None:
    run = berthd.docker("run", "-d", "--name", "child", "--hostname", "kid", "busybox",
                        "sleep", "60")  # fmt: skip
    assert run.returncode == 0, run.stderr
    (child,) = json.loads(berthd.docker("inspect", "child").stdout)
    shown = berthd.docker(
        "run", "--rm", "--link", "child:pal", "--add-host", "gw:host-gateway", "busybox",
        "sh", "-c", "cat /etc/hosts; ping -c1 -W2 pal >/dev/null && echo reached",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    address = child["NetworkSettings"]["IPAddress"]
    assert f"{address}\tpal kid child" in shown.stdout
    gateway = child["NetworkSettings"]["Gateway"]
    assert f"{gateway}\tgw" in shown.stdout
    assert "reached" in shown.stdout
    stopped = berthd.docker("stop", "-t", "1", "child")
    assert stopped.returncode == 0
    refused = berthd.docker("run", "--rm", "--link", "child:pal", "busybox", "true")
    assert "Cannot link to a non running container: /child AS /" in refused.stderr
