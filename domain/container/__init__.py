"""The Container aggregate, its ids and its state machine."""

from .aggregate import EVENT_OF_COMMAND, Container
from .ids import container_id_from_entropy, is_container_id, short_id
from .transitions import (
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
    "TRANSITIONS",
    "Command",
    "Container",
    "ContainerState",
    "Go",
    "NoOp",
    "Refuse",
    "container_id_from_entropy",
    "decide",
    "is_container_id",
    "short_id",
    "state_after",
]
