"""The `ContainerMetrics` contract (adapters/container_metrics.py), for the fake and the
real host (a cgroup made for the test, with a `sleep` in it)."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from berth.adapters import cgroups
from berth.adapters.container_metrics import ContainerMetrics, HostMetrics, PsFailed
from berth.domain.container_stats import CgroupSample

from ..fakes.metrics import FakeMetrics
from .conftest import IMPLEMENTATIONS, needs

#: Starts a process in a new cgroup; answers the cgroup's path and the pid.
Spawn = Callable[[], tuple[str, int]]


@pytest.fixture(params=IMPLEMENTATIONS)
def subject(request: pytest.FixtureRequest) -> Iterator[tuple[ContainerMetrics, Spawn]]:
    if request.param == "fake":
        fake = FakeMetrics()

        def spawn_fake() -> tuple[str, int]:
            pid = 4000 + len(fake.cgroups)
            cgroup = f"/berth-test/{uuid.uuid4().hex}"
            fake.add(cgroup, pid, "sleep", CgroupSample(memory_usage=4096, pids_current=1))
            return cgroup, pid

        yield fake, spawn_fake
        return
    needs(root=True, commands=("ps", "sleep"))
    made: list[tuple[subprocess.Popen[bytes], str]] = []

    def spawn_real() -> tuple[str, int]:
        cgroup = f"/berth-test/{uuid.uuid4().hex}"
        # Memory is charged to the cgroup a page is first touched in: the shell execs
        # `sleep` once it has been moved.
        process = subprocess.Popen(["sh", "-c", "read _; exec sleep 60"], stdin=subprocess.PIPE)
        made.append((process, cgroup))
        cgroups.create_and_join(cgroup, process.pid)
        assert process.stdin is not None
        process.stdin.write(b"\n")
        process.stdin.close()
        comm = Path(f"/proc/{process.pid}/comm")
        while comm.read_text().strip() != "sleep":
            time.sleep(0.01)
        return cgroup, process.pid

    try:
        yield HostMetrics(), spawn_real
    finally:
        for process, cgroup in made:
            process.kill()
            process.wait()
            cgroups.remove_everywhere(cgroup)
        cgroups.remove_everywhere("/berth-test")


def test_a_cgroup_that_is_not_there_has_no_pids_and_no_sample(
    subject: tuple[ContainerMetrics, Spawn],
) -> None:
    metrics, _ = subject
    assert metrics.pids(f"/berth-test/{uuid.uuid4().hex}") == []
    assert metrics.sample(f"/berth-test/{uuid.uuid4().hex}") is None


def test_a_cgroup_lists_its_process_and_counts_it(subject: tuple[ContainerMetrics, Spawn]) -> None:
    metrics, spawn = subject
    cgroup, pid = spawn()
    assert metrics.pids(cgroup) == [pid]
    sample = metrics.sample(cgroup)
    assert sample is not None
    assert sample.pids_current == 1
    assert sample.memory_usage > 0


def test_ps_lists_a_process_and_fails_as_ps_does(subject: tuple[ContainerMetrics, Spawn]) -> None:
    metrics, spawn = subject
    _, pid = spawn()
    title, *rows = metrics.ps(["-o", "pid,comm"]).splitlines()
    assert title.split() == ["PID", "COMMAND"]
    assert [str(pid), "sleep"] in [row.split() for row in rows]
    with pytest.raises(PsFailed, match=r"^ps: "):
        metrics.ps(["--no-such-option"])


def test_the_host_has_cpus_cpu_time_and_memory(subject: tuple[ContainerMetrics, Spawn]) -> None:
    metrics, _ = subject
    host = metrics.host()
    assert host.online_cpus >= 1 and host.system_cpu > 0 and host.memory_total > 0


def test_interfaces_leave_out_loopback(subject: tuple[ContainerMetrics, Spawn]) -> None:
    metrics, spawn = subject
    _, pid = spawn()
    interfaces = metrics.interfaces(pid)
    assert "lo" not in interfaces
    for counters in interfaces.values():
        assert {"rx_bytes", "tx_bytes", "rx_packets", "tx_packets"} <= set(counters)
