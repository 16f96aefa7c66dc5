"""Docker's StatsJSON from readings (domain/container_stats.py): Go's omitempty, the
host's memory for an unlimited cgroup, precpu from the reading before."""

from __future__ import annotations

from datetime import UTC, datetime

from berth.domain.container_stats import (
    BLKIO_KEYS,
    BlkioEntry,
    CgroupSample,
    HostSample,
    Reading,
    stats_document,
)

T = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)
HOST = HostSample(system_cpu=5_000, online_cpus=2, memory_total=1 << 30)


def text(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "zero"


def test_a_container_that_does_not_run_has_dockerds_zero_document() -> None:
    doc = stats_document("/c", "abc", None, None, text)
    zero_cpu = {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    assert doc == {
        "read": "zero",
        "preread": "zero",
        "pids_stats": {},
        "blkio_stats": dict.fromkeys(BLKIO_KEYS),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": zero_cpu,
        "precpu_stats": zero_cpu,
        "memory_stats": {},
        "name": "/c",
        "id": "abc",
    }


def test_a_reading_and_the_one_before() -> None:
    earlier = Reading(T, CgroupSample(cpu_total=10, percpu=(4, 6)), HOST, {})
    sample = CgroupSample(
        cpu_total=30,
        cpu_user=20,
        cpu_system=10,
        percpu=(12, 18),
        memory_usage=4096,
        memory_limit=(1 << 63) - 4096,  # v1's "unlimited"
        memory_stats={"rss": 4096},
        pids_current=2,
        blkio={"io_service_bytes_recursive": (BlkioEntry(8, 0, "Read", 512),)},
    )
    later = Reading(T.replace(second=1), sample, HOST, {"eth0": {"rx_bytes": 7}})
    doc = stats_document("/c", "abc", later, earlier, text)
    assert doc["read"] == later.read.isoformat() and doc["preread"] == T.isoformat()
    assert doc["cpu_stats"]["cpu_usage"] == {
        "total_usage": 30,
        "percpu_usage": [12, 18],
        "usage_in_kernelmode": 10,
        "usage_in_usermode": 20,
    }
    assert doc["precpu_stats"]["cpu_usage"]["total_usage"] == 10
    assert doc["cpu_stats"]["online_cpus"] == 2
    assert doc["memory_stats"] == {"usage": 4096, "stats": {"rss": 4096}, "limit": 1 << 30}
    assert doc["pids_stats"] == {"current": 2}
    assert doc["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 512}
    ]
    assert doc["blkio_stats"]["sectors_recursive"] is None
    assert doc["networks"]["eth0"]["rx_bytes"] == 7
    assert doc["networks"]["eth0"]["tx_dropped"] == 0
