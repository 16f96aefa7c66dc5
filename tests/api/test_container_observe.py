"""`docker top` and `docker stats` against berthd, and the stats JSON against dockerd's
shape (API 1.41, key by key, with the JSON types Go's encoder gives them)."""

from __future__ import annotations

import time
from typing import Any

import docker
import pytest

from berth.domain.container_stats import NETWORK_KEYS

from .berth_cli import berth
from .conftest import Berthd

UINT = int
# dockerd 20.10's StatsJSON of a running container on cgroup v1 (v2: no percpu_usage and
# no max_usage, as dockerd). A nested dict is an object whose keys must all be there.
RUNNING_SHAPE: dict[str, Any] = {
    "read": str,
    "preread": str,
    "pids_stats": {"current": UINT},
    "blkio_stats": {
        "io_service_bytes_recursive": (list, type(None)),
        "io_serviced_recursive": (list, type(None)),
        "io_queue_recursive": (list, type(None)),
        "io_service_time_recursive": (list, type(None)),
        "io_wait_time_recursive": (list, type(None)),
        "io_merged_recursive": (list, type(None)),
        "io_time_recursive": (list, type(None)),
        "sectors_recursive": (list, type(None)),
    },
    "num_procs": UINT,
    "storage_stats": {},
    "cpu_stats": {
        "cpu_usage": {"total_usage": UINT, "usage_in_kernelmode": UINT, "usage_in_usermode": UINT},
        "system_cpu_usage": UINT,
        "online_cpus": UINT,
        "throttling_data": {"periods": UINT, "throttled_periods": UINT, "throttled_time": UINT},
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": UINT, "usage_in_kernelmode": UINT, "usage_in_usermode": UINT},
        "system_cpu_usage": UINT,
        "online_cpus": UINT,
        "throttling_data": {"periods": UINT, "throttled_periods": UINT, "throttled_time": UINT},
    },
    "memory_stats": {"usage": UINT, "stats": dict, "limit": UINT},
    "name": str,
    "id": str,
    "networks": dict,
}
OPTIONAL = {"percpu_usage", "max_usage", "failcnt", "limit"}


def _check_shape(doc: Any, shape: Any, where: str = "") -> None:
    if isinstance(shape, dict):
        assert isinstance(doc, dict), where
        for key, inner in shape.items():
            assert key in doc, f"{where}.{key} missing"
            _check_shape(doc[key], inner, f"{where}.{key}")
        return
    assert isinstance(doc, shape) and not isinstance(doc, bool), f"{where}: {doc!r}"


def _running(berthd: Berthd, *argv: str) -> str:
    run = berthd.docker("run", "-d", *argv)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_docker_top_lists_the_containers_processes(
    berthd: Berthd, docker_api: docker.APIClient
) -> None:
    container_id = _running(berthd, "busybox", "sleep", "4242")
    top = berthd.docker("top", container_id)
    assert top.returncode == 0, top.stderr
    title, *rows = top.stdout.splitlines()
    assert title.split()[:3] == ["UID", "PID", "PPID"]
    assert [row.split()[-2:] for row in rows] == [["sleep", "4242"]]
    listed = docker_api.top(container_id, ps_args="-o pid,comm")
    assert listed["Titles"] == ["PID", "COMMAND"]
    assert [process[1] for process in listed["Processes"]] == ["sleep"]
    events = docker_api.events(
        since=int(time.time()) - 60,
        until=int(time.time()) + 1,
        filters={"container": container_id, "event": "top"},
        decode=True,
    )
    assert [event["Action"] for event in events] == ["top", "top"]


def test_top_of_a_container_that_does_not_run_is_409(
    berthd: Berthd, docker_api: docker.APIClient
) -> None:
    container_id = docker_api.create_container("busybox", ["true"])["Id"]
    with pytest.raises(docker.errors.APIError) as raised:
        docker_api.top(container_id)
    assert raised.value.status_code == 409
    assert raised.value.explanation == f"Container {container_id} is not running"
    with pytest.raises(docker.errors.APIError) as bad:
        docker_api.top(container_id, ps_args="-o user=PID")
    assert bad.value.status_code == 400
    assert bad.value.explanation == 'specifying "user=PID" is not allowed'


def test_docker_stats_no_stream_shows_memory_and_cpu(berthd: Berthd) -> None:
    container_id = _running(berthd, "busybox", "sh", "-c", "while :; do :; done")
    shown = berthd.docker(
        "stats", "--no-stream", "--format", "{{.ID}} {{.CPUPerc}} {{.MemUsage}}", container_id
    )
    assert shown.returncode == 0, shown.stderr
    short, cpu, usage, *_ = shown.stdout.split()
    assert short == container_id[:12]
    assert cpu.endswith("%") and float(cpu[:-1]) > 0  # a busy loop
    assert usage[0].isdigit() and not usage.startswith("0B")


def test_stats_json_has_dockerds_shape(berthd: Berthd, docker_api: docker.APIClient) -> None:
    container_id = _running(berthd, "busybox", "sleep", "60")
    doc = docker_api.stats(container_id, stream=False)
    _check_shape(doc, RUNNING_SHAPE)
    assert doc["id"] == container_id and doc["name"].startswith("/")
    assert doc["preread"] != "0001-01-01T00:00:00Z"  # stream=false reads twice, as dockerd
    assert set(doc["networks"]["eth0"]) == set(NETWORK_KEYS)
    extra = {k for part in ("cpu_stats", "memory_stats") for k in doc[part]} - {
        *RUNNING_SHAPE["cpu_stats"],
        *RUNNING_SHAPE["memory_stats"],
        *OPTIONAL,
    }
    assert extra == set()
    one_shot = docker_api.stats(container_id, stream=False, one_shot=True)
    assert one_shot["preread"] == "0001-01-01T00:00:00Z"
    _check_shape(one_shot["cpu_stats"], RUNNING_SHAPE["cpu_stats"])
    streamed = docker_api.stats(container_id, decode=True)
    first, second = next(streamed), next(streamed)
    assert second["preread"] == first["read"]
    assert second["precpu_stats"] == first["cpu_stats"]


def test_stats_of_a_stopped_container_are_zeros(docker_api: docker.APIClient) -> None:
    container_id = docker_api.create_container("busybox", ["true"])["Id"]
    doc = docker_api.stats(container_id, stream=False)
    assert doc["read"] == "0001-01-01T00:00:00Z"
    assert doc["memory_stats"] == {} and doc["pids_stats"] == {}
    assert doc["cpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert "networks" not in doc


def test_berth_top_and_stats(berthd: Berthd) -> None:
    container_id = _running(berthd, "--name", "observed", "busybox", "sleep", "4343")
    top = berth(berthd, "top", "observed", "-o", "pid,args")
    assert top.returncode == 0, top.stderr
    title, *rows = top.stdout.splitlines()
    assert title.split() == ["PID", "COMMAND"]
    assert [row.split()[1:] for row in rows] == [["sleep", "4343"]]
    shown = berth(berthd, "stats", "--no-stream", "observed")
    assert shown.returncode == 0, shown.stderr
    title, row = shown.stdout.splitlines()
    assert title.startswith("CONTAINER ID") and "MEM USAGE / LIMIT" in title
    assert row.startswith(f"{container_id[:12]}   observed ")
    assert "MiB / " in row or "KiB / " in row
    stopped = berth(berthd, "top", "nosuch")
    assert stopped.returncode == 1
    assert "No such container: nosuch" in stopped.stderr
