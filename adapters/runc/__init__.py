"""The container runtime adapter: runc under a conmon per container (ADR/0008).

protocol.py is what the service may rely on (`ContainerRuntime`); runtime.py is the real
one (`Runtime`), built from commands.py (the runc binary) and monitor.py (conmon).
"""

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
    "ContainerRuntime",
    "ExitStatus",
    "MonitorLost",
    "ProbeOutcome",
    "RuncState",
    "Runtime",
    "StartFailure",
    "Status",
    "parse_signal",
]
