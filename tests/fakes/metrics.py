"""An in-memory `ContainerMetrics`: cgroups, their samples and `ps` set by a test."""

from __future__ import annotations

from dataclasses import dataclass, field

from berth.adapters.container_metrics import PsFailed
from berth.domain.container_stats import CgroupSample, HostSample


@dataclass
class FakeMetrics:
    cgroups: dict[str, list[int]] = field(default_factory=dict)
    samples: dict[str, CgroupSample] = field(default_factory=dict)
    networks: dict[int, dict[str, dict[str, int]]] = field(default_factory=dict)
    host_sample: HostSample = field(default_factory=lambda: HostSample(10**12, 2, 2 << 30))
    # A `ps` listing of every pid: PID and COMMAND, as `ps -o pid,comm` prints.
    commands: dict[int, str] = field(default_factory=dict)

    def add(self, cgroup: str, pid: int, command: str, sample: CgroupSample) -> None:
        self.cgroups.setdefault(cgroup.strip("/"), []).append(pid)
        self.samples[cgroup.strip("/")] = sample
        self.commands[pid] = command

    def pids(self, cgroup: str) -> list[int]:
        return sorted(self.cgroups.get(cgroup.strip("/"), []))

    def sample(self, cgroup: str) -> CgroupSample | None:
        return self.samples.get(cgroup.strip("/"))

    def host(self) -> HostSample:
        return self.host_sample

    def interfaces(self, pid: int) -> dict[str, dict[str, int]]:
        return self.networks.get(pid, {})

    def ps(self, arguments: list[str]) -> str:
        if arguments != ["-o", "pid,comm"]:
            raise PsFailed(f"ps: unsupported option {' '.join(arguments)!r}")
        rows = [f"{pid:>7} {command}" for pid, command in sorted(self.commands.items())]
        return "\n".join(["    PID COMMAND", *rows, ""])
