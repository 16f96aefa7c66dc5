"""`HealthStatusChanged`: a running container's health status as its probes found it
(ADR 0036). Only changes are events; each probe's result is kept beside the log.

An event of the Container aggregate kept out of aggregate.py (which is at its size
limit): its topic is registered here, and the package imports this module, so any
process that loads a container knows it. It leaves the lifecycle state as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eventsourcing.utils import register_topic

from ..cause import Cause
from ..errors import NotModified
from .aggregate import Container, T
from .transitions import ContainerState


@dataclass(frozen=True)
class HealthStatusChanged(Container.Event):
    TOPIC = f"{T}.HealthStatusChanged"
    status: str
    started_at: datetime  # the run whose probes found it


register_topic(HealthStatusChanged.TOPIC, HealthStatusChanged)


def record_health(c: Container, status: str, started_at: datetime, cause: Cause) -> None:
    """Record a health status found by the probes of the run that began at `started_at`;
    NotModified (nothing recorded) if that run is no longer the running one."""
    if c.state is not ContainerState.RUNNING or c.started_at != started_at:
        raise NotModified(f"container {c.id} is no longer running the probed run")
    c._record(HealthStatusChanged, cause, status=status, started_at=started_at)
