"""Named crash points: the test hook that kills the engine at one step of its work.

`BERTH_CRASH_AT=<point>` (or `<point>:<n>` for its n-th passage) makes the process SIGKILL
itself when it reaches that point, exactly as an operator's `kill -9` or an OOM kill
would, between two steps that must both happen. The crash-matrix test walks every point
in `POINTS`, restarts the engine and checks that reconcile puts everything right.

Unset (always, outside tests), a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "BERTH_CRASH_AT"

#: Every crash point, in the order of the work it interrupts. A point not listed here is
#: refused, so the matrix cannot miss one.
POINTS = (
    # create
    "create.recorded",
    "create.mounted",
    # start
    "start.requested",
    "start.network_allocated",
    "start.network_attached",
    "start.ports_published",
    "start.network_recorded",
    "start.runtime_created",
    "start.runtime_started",
    "start.recorded",
    # stop and kill
    "stop.requested",
    "stop.signalled",
    "kill.requested",
    # exits, restart policy, auto-remove
    "exit.recorded",
    "restart.scheduled",
    "restart.requested",
    # remove
    "remove.requested",
    "remove.killed",
    "remove.exit_recorded",
    "remove.network_released",
    "remove.runtime_deleted",
    "remove.unmounted",
    "remove.files_deleted",
    # exec
    "exec.start_requested",
    "exec.monitor_started",
    "exec.exit_recorded",
    # user-defined networks: create, and connect of a running container
    "network.recorded",
    "connect.joined",
    "connect.allocated",
    "connect.attached",
    # pull
    "pull.layer_stored",
    "pull.recorded",
)
_POINTS = frozenset(POINTS)


def _armed() -> tuple[str, int] | None:
    value = os.environ.get(ENV)
    if not value:
        return None
    name, _, count = value.partition(":")
    if name not in _POINTS:
        raise ValueError(f"{ENV}: unknown crash point {name!r}")
    return name, int(count or 1)


_ARMED = _armed()
_passed: dict[str, int] = {}


def crash_point(name: str) -> None:
    """SIGKILL this process here if `BERTH_CRASH_AT` names this point (and passage)."""
    if _ARMED is None:
        return
    if name not in _POINTS:
        raise ValueError(f"unknown crash point {name!r}")
    wanted, passage = _ARMED
    if name != wanted:
        return
    _passed[name] = _passed.get(name, 0) + 1
    if _passed[name] == passage:
        os.kill(os.getpid(), signal.SIGKILL)
