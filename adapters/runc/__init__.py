"""The container runtime adapter: runc or crun under a conmon per container (ADR/0008,
ADR/0040).

protocol.py is what the service may rely on (`ContainerRuntime`); runtime.py is the real
one (`Runtime`), built from commands.py (the runtime's binary) and monitor.py (conmon);
backends.py says which runtimes this host can use, seccomp_bundle.py hands crun the
compiled seccomp program, messages.py puts crun's words in runc's.
"""

from .attach import NO_STDIN, ConmonStdio, ContainerStdio, Stdio, StdioStream
from .protocol import (
    ContainerRuntime,
    ExitStatus,
    MonitorLost,
    ProbeOutcome,
    RuncState,
    StartFailure,
    Status,
)
from .runtime import MONITOR_CGROUP_PARENT, Runtime, parse_signal

__all__ = [
    "MONITOR_CGROUP_PARENT",
    "NO_STDIN",
    "ConmonStdio",
    "ContainerRuntime",
    "ContainerStdio",
    "ExitStatus",
    "MonitorLost",
    "ProbeOutcome",
    "RuncState",
    "Runtime",
    "StartFailure",
    "Status",
    "Stdio",
    "StdioStream",
    "parse_signal",
]
