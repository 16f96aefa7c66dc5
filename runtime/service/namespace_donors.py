"""`--pid container:X`: the running container whose PID namespace a start joins, found as
dockerd's getPidContainer finds it (the rule itself is the domain's)."""

from __future__ import annotations

from berth.domain.container import Container
from berth.domain.errors import BerthError

from .engine import Engine


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
    return donor.namespace_donor_pid()
