"""`--pid container:X`: the running container whose PID namespace a start joins, found as
dockerd's getPidContainer finds it (its messages): running or paused, not restarting."""

from __future__ import annotations

from berth.domain.container import Container, ContainerState
from berth.domain.errors import BerthError, Conflict

from .engine import Engine

S = ContainerState


def donor_pid(engine: Engine, mode: str) -> int:
    """The donor's process id for `container:X`, 0 for any other PID mode. Blocking:
    call from a worker thread."""
    source, _, ref = mode.partition(":")
    if source != "container" or not ref:
        return 0
    try:
        donor: Container = engine.get_aggregate(engine.resolve_container(ref))
    except BerthError as error:
        message = f"cannot join PID of a non running container: {ref}: {error.message}"
        raise type(error)(message) from None
    if donor.state is S.RESTARTING:
        raise Conflict(f"Container {donor.id} is restarting, wait until the container is running")
    if donor.state not in (S.RUNNING, S.PAUSED) or not donor.pid:
        raise Conflict(f"Container {donor.id} is not running")
    return int(donor.pid)
