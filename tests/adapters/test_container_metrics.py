"""The host's cgroup files as HostMetrics reads them, on a v2 and on a v1 layout (trees
the test writes, named in a mountinfo of its own), as containerd's parsers read them."""

from __future__ import annotations

from pathlib import Path

from berth.adapters.container_metrics import HostMetrics
from berth.domain.container_stats import BlkioEntry

CGROUP = "berth/abc"


def _files(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def test_a_v2_cgroup(tmp_path: Path) -> None:
    root = tmp_path / "unified"
    _files(
        root / CGROUP,
        {
            "cgroup.procs": "7\n8\n",
            "cpu.stat": "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\n"
            "nr_periods 4\nnr_throttled 1\nthrottled_usec 5\n",
            "memory.current": "4096\n",
            "memory.max": "max\n",
            "memory.stat": "anon 1024\nfile 2048\ninactive_file 512\n",
            "memory.events": "low 0\nhigh 0\nmax 2\noom 0\noom_kill 0\n",
            "pids.current": "2\n",
            "pids.max": "100\n",
            "io.stat": "8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n",
        },
    )
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"30 23 0:27 / {root} rw - cgroup2 cgroup2 rw\n")
    metrics = HostMetrics(mountinfo)
    assert metrics.pids(f"/{CGROUP}") == [7, 8]
    sample = metrics.sample(f"/{CGROUP}")
    assert sample is not None
    assert (sample.cpu_total, sample.cpu_user, sample.cpu_system) == (
        3_000_000,
        2_000_000,
        1_000_000,
    )
    assert sample.percpu == () and sample.throttling == (4, 1, 5000)
    assert (sample.memory_usage, sample.memory_limit, sample.memory_failcnt) == (4096, 0, 2)
    assert sample.memory_stats["inactive_file"] == 512
    assert (sample.pids_current, sample.pids_limit) == (2, 100)
    assert sample.blkio == {
        "io_service_bytes_recursive": (
            BlkioEntry(8, 0, "read", 512),
            BlkioEntry(8, 0, "write", 1024),
        )
    }
    assert metrics.sample("/berth/gone") is None


def test_a_v1_cgroup_with_the_throttle_blkio_files(tmp_path: Path) -> None:
    lines = []
    files = {
        "memory": {
            "cgroup.procs": "7\n",
            "memory.usage_in_bytes": "8192\n",
            "memory.max_usage_in_bytes": "9000\n",
            "memory.limit_in_bytes": "67108864\n",
            "memory.failcnt": "0\n",
            "memory.stat": "cache 4096\nrss 4096\ntotal_inactive_file 100\n",
        },
        "cpuacct": {
            "cpuacct.usage": "5000\n",
            "cpuacct.usage_percpu": "2000 3000 \n",
            "cpuacct.stat": "user 2\nsystem 1\n",
        },
        "cpu": {"cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n"},
        "pids": {"pids.current": "1\n", "pids.max": "max\n"},
        "blkio": {
            "blkio.io_service_bytes_recursive": "Total 0\n",
            "blkio.throttle.io_service_bytes_recursive": "8:0 Read 512\n8:0 Write 0\nTotal 512\n",
        },
    }
    for number, (controller, contents) in enumerate(files.items()):
        mount = tmp_path / controller
        _files(mount / CGROUP, contents)
        lines.append(
            f"{40 + number} 31 0:{40 + number} / {mount} rw - cgroup cgroup rw,{controller}"
        )
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("\n".join(lines) + "\n")
    sample = HostMetrics(mountinfo).sample(f"/{CGROUP}")
    assert sample is not None
    assert (sample.cpu_total, sample.percpu) == (5000, (2000, 3000))
    assert sample.cpu_user > sample.cpu_system > 0  # clock ticks as nanoseconds
    assert (sample.memory_usage, sample.memory_max_usage) == (8192, 9000)
    assert sample.memory_limit == 64 << 20
    assert (sample.pids_current, sample.pids_limit) == (1, 0)
    assert sample.blkio["io_service_bytes_recursive"] == (
        BlkioEntry(8, 0, "Read", 512),
        BlkioEntry(8, 0, "Write", 0),
    )


def test_interfaces_of_a_network_namespace(tmp_path: Path) -> None:
    (tmp_path / "42" / "net").mkdir(parents=True)
    (tmp_path / "42" / "net" / "dev").write_text(
        "Inter-|   Receive                            |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets"
        " errs drop fifo colls carrier compressed\n"
        "    lo:     100       1    0    0    0     0          0         0      100       1"
        "    0    0    0     0       0          0\n"
        "  eth0:    2000      20    1    2    0     0          0         0     3000      30"
        "    3    4    0     0       0          0\n"
    )
    assert HostMetrics(proc=tmp_path).interfaces(42) == {
        "eth0": {
            "rx_bytes": 2000,
            "rx_packets": 20,
            "rx_errors": 1,
            "rx_dropped": 2,
            "tx_bytes": 3000,
            "tx_packets": 30,
            "tx_errors": 3,
            "tx_dropped": 4,
        }
    }
