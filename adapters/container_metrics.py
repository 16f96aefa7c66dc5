"""What the host says about a container's processes: its cgroup's pids and counters
(cgroup v1 or v2 files), the network counters of its namespace, and `ps`.

The container's cgroup is named by the path runc was given (`<parent>/<id>`), below the
root of each hierarchy. On a v1 or hybrid host (v1 controllers, maybe an empty v2
hierarchy beside them) the counters are the v1 controllers' files, on a unified host
the v2 files, read as dockerd 20.10 reads them through containerd's cgroups package.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Protocol

from berth.domain.container_stats import BlkioEntry, CgroupSample, HostSample
from berth.domain.errors import BerthError

from .cgroups import MOUNTINFO, Hierarchy, check_relative, hierarchies, members

NANOS = 1_000_000_000
#: v1 blkio files and the Docker key each fills (the CFQ ones, else the throttle ones).
_V1_BLKIO = {
    "io_service_bytes_recursive": (
        "io_service_bytes_recursive", "throttle.io_service_bytes_recursive"
    ),
    "io_serviced_recursive": ("io_serviced_recursive", "throttle.io_serviced_recursive"),
    "io_queue_recursive": ("io_queued_recursive",),
    "io_service_time_recursive": ("io_service_time_recursive",),
    "io_wait_time_recursive": ("io_wait_time_recursive",),
    "io_merged_recursive": ("io_merged_recursive",),
    "io_time_recursive": ("time_recursive",),
    "sectors_recursive": ("sectors_recursive",),
}  # fmt: skip


class PsFailed(BerthError):
    """`ps` failed; the message is the first line it wrote to stderr (dockerd's 500)."""

    http_status = 500


class ContainerMetrics(Protocol):
    def pids(self, cgroup: str) -> list[int]:
        """The pids in the container's cgroup (empty when it is gone)."""

    def sample(self, cgroup: str) -> CgroupSample | None:
        """The cgroup's counters now; None when it is gone."""

    def host(self) -> HostSample:
        """The host's CPU time, online CPUs and memory now."""

    def interfaces(self, pid: int) -> dict[str, dict[str, int]]:
        """The counters of each interface but `lo` in the network namespace of `pid`."""

    def ps(self, arguments: list[str]) -> str:
        """The output of the host's `ps` with `arguments`; PsFailed if it fails."""


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None


def _int(text: str | None, unlimited: int = 0) -> int:
    value = (text or "").strip()
    if value in ("", "max"):
        return unlimited
    return int(value)


def _pairs(text: str | None) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, cpuacct.stat)."""
    found: dict[str, int] = {}
    for line in (text or "").splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            found[key] = int(value)
    return found


def _device(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(":")
    return int(major), int(minor)


class HostMetrics:
    """The real host: /sys/fs/cgroup, /proc and `ps`."""

    def __init__(self, mountinfo: Path = MOUNTINFO, proc: Path = Path("/proc")) -> None:
        self.mountinfo = mountinfo
        self.proc = proc
        self._hierarchies: list[Hierarchy] | None = None

    def _all(self) -> list[Hierarchy]:
        if self._hierarchies is None:
            self._hierarchies = hierarchies(self.mountinfo, every=True)
        return self._hierarchies

    def _v1(self, controller: str) -> Path | None:
        for hierarchy in self._all():
            if hierarchy.version == 1 and controller in hierarchy.controllers:
                return hierarchy.mount
        return None

    def _v2(self) -> Path | None:
        for hierarchy in self._all():
            if hierarchy.version == 2:
                return hierarchy.mount
        return None

    def pids(self, cgroup: str) -> list[int]:
        rel = check_relative(cgroup)
        found = {pid for h in self._all() for pid in members(h.mount / rel)}
        return sorted(found)

    def sample(self, cgroup: str) -> CgroupSample | None:
        rel = check_relative(cgroup)
        memory = self._v1("memory")
        if memory is not None:
            return self._sample_v1(rel) if (memory / rel).is_dir() else None
        unified = self._v2()
        if unified is None or not (unified / rel).is_dir():
            return None
        return self._sample_v2(unified / rel)

    def _sample_v1(self, rel: str) -> CgroupSample:
        def file(controller: str, name: str) -> str | None:
            mount = self._v1(controller)
            return None if mount is None else _read(mount / rel / name)

        ticks = os.sysconf("SC_CLK_TCK")
        cpuacct = _pairs(file("cpuacct", "cpuacct.stat"))
        throttled = _pairs(file("cpu", "cpu.stat"))
        blkio: dict[str, tuple[BlkioEntry, ...]] = {}
        for key, names in _V1_BLKIO.items():
            for name in names:
                entries = self._v1_blkio(file("blkio", f"blkio.{name}"))
                if entries:
                    blkio[key] = entries
                    break
        return CgroupSample(
            cpu_total=_int(file("cpuacct", "cpuacct.usage")),
            cpu_user=cpuacct.get("user", 0) * NANOS // ticks,
            cpu_system=cpuacct.get("system", 0) * NANOS // ticks,
            percpu=tuple(int(v) for v in (file("cpuacct", "cpuacct.usage_percpu") or "").split()),
            throttling=(
                throttled.get("nr_periods", 0),
                throttled.get("nr_throttled", 0),
                throttled.get("throttled_time", 0),
            ),
            memory_usage=_int(file("memory", "memory.usage_in_bytes")),
            memory_max_usage=_int(file("memory", "memory.max_usage_in_bytes")),
            memory_failcnt=_int(file("memory", "memory.failcnt")),
            memory_limit=_int(file("memory", "memory.limit_in_bytes")),
            memory_stats=_pairs(file("memory", "memory.stat")),
            pids_current=_int(file("pids", "pids.current")),
            pids_limit=_int(file("pids", "pids.max")),
            blkio=blkio,
        )

    @staticmethod
    def _v1_blkio(text: str | None) -> tuple[BlkioEntry, ...]:
        entries = []
        for line in (text or "").splitlines():
            fields = line.split()
            if len(fields) == 3:  # "Total <n>" lines have two
                major, minor = _device(fields[0])
                entries.append(BlkioEntry(major, minor, fields[1], int(fields[2])))
        return tuple(entries)

    @staticmethod
    def _sample_v2(directory: Path) -> CgroupSample:
        cpu = _pairs(_read(directory / "cpu.stat"))
        events = _pairs(_read(directory / "memory.events"))
        io: list[BlkioEntry] = []
        for line in (_read(directory / "io.stat") or "").splitlines():
            device, *counters = line.split()
            values = dict(c.partition("=")[::2] for c in counters)
            major, minor = _device(device)
            io.append(BlkioEntry(major, minor, "read", int(values.get("rbytes", 0))))
            io.append(BlkioEntry(major, minor, "write", int(values.get("wbytes", 0))))
        return CgroupSample(
            cpu_total=cpu.get("usage_usec", 0) * 1000,
            cpu_user=cpu.get("user_usec", 0) * 1000,
            cpu_system=cpu.get("system_usec", 0) * 1000,
            throttling=(
                cpu.get("nr_periods", 0),
                cpu.get("nr_throttled", 0),
                cpu.get("throttled_usec", 0) * 1000,
            ),
            memory_usage=_int(_read(directory / "memory.current")),
            memory_failcnt=events.get("max", 0),
            memory_limit=_int(_read(directory / "memory.max")),
            memory_stats=_pairs(_read(directory / "memory.stat")),
            pids_current=_int(_read(directory / "pids.current")),
            pids_limit=_int(_read(directory / "pids.max")),
            blkio={"io_service_bytes_recursive": tuple(io)} if io else {},
        )

    def host(self) -> HostSample:
        ticks = os.sysconf("SC_CLK_TCK")
        first = (_read(self.proc / "stat") or "cpu").splitlines()[0].split()
        # dockerd's getSystemCPUUsage: user, nice, system, idle, iowait, irq, softirq.
        jiffies = sum(int(v) for v in first[1:8])
        meminfo = _read(self.proc / "meminfo") or ""
        total_kb = next(
            (int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")),
            0,
        )
        return HostSample(
            system_cpu=jiffies * NANOS // ticks,
            online_cpus=os.sysconf("SC_NPROCESSORS_ONLN"),
            memory_total=total_kb * 1024,
        )

    def interfaces(self, pid: int) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for line in (_read(self.proc / str(pid) / "net" / "dev") or "").splitlines()[2:]:
            name, _, counters = line.partition(":")
            values = [int(v) for v in counters.split()]
            if name.strip() == "lo" or len(values) < 12:
                continue
            found[name.strip()] = {
                "rx_bytes": values[0],
                "rx_packets": values[1],
                "rx_errors": values[2],
                "rx_dropped": values[3],
                "tx_bytes": values[8],
                "tx_packets": values[9],
                "tx_errors": values[10],
                "tx_dropped": values[11],
            }
        return found

    def ps(self, arguments: list[str]) -> str:
        try:
            done = subprocess.run(["ps", *arguments], capture_output=True, check=False)
        except OSError as error:
            raise PsFailed(f"ps: {error.strerror}") from error
        if done.returncode != 0:
            first = done.stderr.decode(errors="replace").split("\n", 1)[0]
            raise PsFailed(f"ps: {first or f'exit status {done.returncode}'}")
        return done.stdout.decode(errors="replace")
