"""`docker stats`: Docker's StatsJSON (API 1.41) from one sample of a container's cgroup.

The samples are read by the adapter (adapters/cgroup_metrics.py) from cgroup v1 or v2
files; this module only shapes them as dockerd 20.10 does, including which fields Go's
`omitempty` leaves out when zero. A container that does not run gets dockerd's empty
document: zero values, its name and id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

BLKIO_KEYS = (
    "io_service_bytes_recursive",
    "io_serviced_recursive",
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
)
NETWORK_KEYS = (
    "rx_bytes",
    "rx_packets",
    "rx_errors",
    "rx_dropped",
    "tx_bytes",
    "tx_packets",
    "tx_errors",
    "tx_dropped",
)


@dataclass(frozen=True)
class BlkioEntry:
    major: int
    minor: int
    op: str
    value: int

    def to_docker(self) -> dict[str, Any]:
        return {"major": self.major, "minor": self.minor, "op": self.op, "value": self.value}


@dataclass(frozen=True)
class CgroupSample:
    """What a container's cgroup says at one moment (nanoseconds and bytes)."""

    cpu_total: int = 0
    cpu_user: int = 0
    cpu_system: int = 0
    percpu: tuple[int, ...] = ()  # cgroup v1 only, as dockerd
    throttling: tuple[int, int, int] = (0, 0, 0)  # periods, throttled periods, time
    memory_usage: int = 0
    memory_max_usage: int = 0  # cgroup v1 only
    memory_failcnt: int = 0
    memory_limit: int = 0
    memory_stats: dict[str, int] = field(default_factory=dict)
    pids_current: int = 0
    pids_limit: int = 0  # 0: no limit
    blkio: dict[str, tuple[BlkioEntry, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class HostSample:
    """The host's side: CPU time of all CPUs (ns), online CPUs and memory (bytes)."""

    system_cpu: int
    online_cpus: int
    memory_total: int


@dataclass(frozen=True)
class Reading:
    """One reading of a running container: when, its cgroup, the host, its interfaces."""

    read: datetime
    cgroup: CgroupSample
    host: HostSample
    networks: dict[str, dict[str, int]]


def _cpu_stats(reading: Reading | None) -> dict[str, Any]:
    sample = reading.cgroup if reading else CgroupSample()
    usage: dict[str, Any] = {"total_usage": sample.cpu_total}
    if sample.percpu:
        usage["percpu_usage"] = list(sample.percpu)
    usage.update(usage_in_kernelmode=sample.cpu_system, usage_in_usermode=sample.cpu_user)
    stats: dict[str, Any] = {"cpu_usage": usage}
    if reading is not None:
        stats["system_cpu_usage"] = reading.host.system_cpu
        stats["online_cpus"] = reading.host.online_cpus
    periods, throttled, throttled_time = sample.throttling
    stats["throttling_data"] = {
        "periods": periods,
        "throttled_periods": throttled,
        "throttled_time": throttled_time,
    }
    return stats


def _memory_stats(reading: Reading) -> dict[str, Any]:
    sample = reading.cgroup
    # An unlimited cgroup's limit is a huge number: dockerd shows the host's memory.
    limit = min(sample.memory_limit or reading.host.memory_total, reading.host.memory_total)
    values = {
        "usage": sample.memory_usage,
        "max_usage": sample.memory_max_usage,
        "stats": dict(sample.memory_stats),
        "failcnt": sample.memory_failcnt,
        "limit": limit,
    }
    return {key: value for key, value in values.items() if value}


def stats_document(
    name: str,
    container_id: str,
    reading: Reading | None,
    previous: Reading | None,
    time_text: Callable[[datetime | None], str],
) -> dict[str, Any]:
    """Docker's StatsJSON: `reading` (None: the container does not run) with `previous`
    as its `precpu_stats`/`preread` (None: zeros, as dockerd's first frame); `time_text`
    writes a time as Docker does (None: Go's zero time)."""
    sample = reading.cgroup if reading else None
    pids: dict[str, int] = {}
    if sample is not None and sample.pids_current:
        pids["current"] = sample.pids_current
    if sample is not None and sample.pids_limit:
        pids["limit"] = sample.pids_limit
    blkio = {
        key: [e.to_docker() for e in sample.blkio[key]] if sample and key in sample.blkio else None
        for key in BLKIO_KEYS
    }
    doc: dict[str, Any] = {
        "read": time_text(reading.read if reading else None),
        "preread": time_text(previous.read if previous else None),
        "pids_stats": pids,
        "blkio_stats": blkio,
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu_stats(reading),
        "precpu_stats": _cpu_stats(previous),
        "memory_stats": _memory_stats(reading) if reading else {},
        "name": name,
        "id": container_id,
    }
    if reading is not None and reading.networks:
        doc["networks"] = {
            interface: {key: counters.get(key, 0) for key in NETWORK_KEYS}
            for interface, counters in sorted(reading.networks.items())
        }
    return doc
