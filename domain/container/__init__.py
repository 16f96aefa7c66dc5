"""The Container aggregate, its ids and its state machine."""

from .aggregate import EVENT_OF_COMMAND, Container
from .health_events import HealthStatusChanged, record_health
from .ids import (
    container_hostname,
    container_id_from_entropy,
    default_hostname,
    is_container_id,
    short_id,
)
from .transitions import (
    LISTED_WITHOUT_ALL,
    LIVE_STATES,
    TRANSITIONS,
    Command,
    ContainerState,
    Go,
    NoOp,
    Refuse,
    decide,
    state_after,
)

__all__ = [
    "EVENT_OF_COMMAND",
    "LISTED_WITHOUT_ALL",
    "LIVE_STATES",
    "TRANSITIONS",
    "Command",
    "Container",
    "ContainerState",
    "Go",
    "HealthStatusChanged",
    "NoOp",
    "Refuse",
    "container_hostname",
    "container_id_from_entropy",
    "decide",
    "default_hostname",
    "is_container_id",
    "record_health",
    "short_id",
    "state_after",
]
