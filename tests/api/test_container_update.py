"""`docker update` against berthd: the live cgroup, inspect's HostConfig and the next
start; dockerd's refusals; `berth update`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import docker
import pytest

from berth.adapters.cgroups import hierarchies

from .berth_cli import berth
from .conftest import Berthd

MIB = 1 << 20


def memory_limit(container_id: str) -> int:
    """The container's memory limit as its cgroup says (v1 or v2)."""
    for hierarchy in hierarchies(every=True):
        if hierarchy.version == 1 and "memory" in hierarchy.controllers:
            path = hierarchy.mount / "berth" / container_id / "memory.limit_in_bytes"
            return int(path.read_text())
    unified = next(h for h in hierarchies() if h.version == 2)
    text = Path(unified.mount / "berth" / container_id / "memory.max").read_text().strip()
    return -1 if text == "max" else int(text)


def _host_config(berthd: Berthd, ref: str) -> dict[str, object]:
    inspect = berthd.docker("inspect", ref)
    assert inspect.returncode == 0, inspect.stderr
    config: dict[str, object] = json.loads(inspect.stdout)[0]["HostConfig"]
    return config


def test_docker_update_memory_sets_the_cgroup_inspect_and_the_next_start(
    berthd: Berthd, docker_api: docker.APIClient
) -> None:
    run = berthd.docker("run", "-d", "--name", "limited", "busybox", "sleep", "600")
    assert run.returncode == 0, run.stderr
    container_id = run.stdout.strip()
    updated = berthd.docker("update", "--memory", "64m", "limited")
    assert updated.returncode == 0, updated.stderr
    assert memory_limit(container_id) == 64 * MIB
    host_config = _host_config(berthd, "limited")
    assert host_config["Memory"] == 64 * MIB
    restarted = berthd.docker("restart", "-t", "0", "limited")
    assert restarted.returncode == 0, restarted.stderr
    assert memory_limit(container_id) == 64 * MIB


def test_update_of_a_stopped_container_is_recorded_and_applied_at_its_start(
    berthd: Berthd, docker_api: docker.APIClient
) -> None:
    container_id = docker_api.create_container("busybox", ["sleep", "600"])["Id"]
    answer = docker_api.update_container(
        container_id, mem_limit="32m", memswap_limit="64m", cpu_shares=512
    )
    assert answer == {"Warnings": []}
    host_config = docker_api.inspect_container(container_id)["HostConfig"]
    assert (host_config["Memory"], host_config["CpuShares"]) == (32 * MIB, 512)
    docker_api.start(container_id)
    assert memory_limit(container_id) == 32 * MIB


def test_update_refusals_are_dockerds(berthd: Berthd, docker_api: docker.APIClient) -> None:
    container_id = docker_api.create_container(
        "busybox", ["sleep", "600"], host_config=docker_api.create_host_config(auto_remove=True)
    )["Id"]
    with pytest.raises(docker.errors.APIError) as raised:
        docker_api.update_container(container_id, restart_policy={"Name": "always"})
    assert raised.value.status_code == 400
    assert raised.value.explanation == (
        f"Cannot update container {container_id}: Restart policy cannot be updated "
        "because AutoRemove is enabled for the container"
    )
    with pytest.raises(docker.errors.APIError) as small:
        docker_api.update_container(container_id, mem_limit="1m")
    assert small.value.explanation == "Minimum memory limit allowed is 6MB"
    unapplied = docker_api.post(
        docker_api._url("/containers/{0}/update", container_id),
        data=json.dumps({"Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 1}]}),
        headers={"Content-Type": "application/json"},
    )
    assert unapplied.status_code == 400
    assert unapplied.json()["message"] == "Ulimits (--ulimit) is not supported by berth yet"
    host_config = docker_api.inspect_container(container_id)["HostConfig"]
    assert host_config["Memory"] == 0 and host_config["RestartPolicy"]["Name"] in ("", "no")


def test_berth_update_and_the_update_event(berthd: Berthd, docker_api: docker.APIClient) -> None:
    container_id = docker_api.create_container("busybox", ["true"], name="policy")["Id"]
    before = int(time.time()) - 1
    done = berth(berthd, "update", "--restart", "on-failure:3", "--pids-limit", "50", "policy")
    assert (done.returncode, done.stdout) == (0, "policy\n"), done.stderr
    host_config = docker_api.inspect_container(container_id)["HostConfig"]
    assert host_config["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host_config["PidsLimit"] == 50
    events = berthd.docker(
        "events",
        "--since",
        str(before),
        "--until",
        str(int(time.time()) + 1),
        "--filter",
        "event=update",
        "--format",
        "{{.Actor.ID}}",
    )
    assert events.stdout.split() == [container_id]
