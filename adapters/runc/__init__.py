"""The container runtime adapter: runc under a conmon per container (ADR/0008).

protocol.py is what the service may rely on (`ContainerRuntime`); runtime.py is the real
one (`Runtime`), built from commands.py (the runc binary) and monitor.py (conmon).
"""

from .attach import NO_STDIN, ConmonStdio, ContainerStdio, Stdio, StdioStream
from .protocol import ContainerRuntime, ExitStatus, MonitorLost, RuncState, StartFailure, Status
from .runtime import MONITOR_CGROUP_PARENT, Runtime, parse_signal

__all__ = [
    "MONITOR_CGROUP_PARENT",
    "NO_STDIN",
    "ConmonStdio",
    "ContainerRuntime",
    "ContainerStdio",
    "ExitStatus",
    "MonitorLost",
    "RuncState",
    "Runtime",
    "StartFailure",
    "Status",
    "Stdio",
    "StdioStream",
    "parse_signal",
]
