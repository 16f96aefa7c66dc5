"""String-id aggregate base on top of eventsourcing, with caller-supplied time and cause.

eventsourcing's stock `Aggregate` insists on UUID ids and stamps events with the wall
clock. Containers have Docker's 64-hex ids and the domain must not read a clock, so this
base takes ids as strings and every event records the `Cause` handed to the command.
Each event class carries a stable `TOPIC` so stored events survive module renames.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    CanSnapshotAggregate,
    MetaDomainEvent,
)
from eventsourcing.utils import register_topic

from .cause import Actor, Cause

TOPIC_PREFIX = "berth"


@dataclass(frozen=True)
class DomainEvent(CanMutateAggregate[str], metaclass=MetaDomainEvent):
    """An event of a berth aggregate: what happened, when, and who caused it."""

    originator_id: str
    originator_version: int
    timestamp: datetime
    actor: Actor
    correlation_id: str


@dataclass(frozen=True)
class CreatedEvent(CanInitAggregate[str], DomainEvent):
    """The first event of an aggregate."""

    originator_topic: str


@dataclass(frozen=True)
class AggregateSnapshot(CanSnapshotAggregate[str], metaclass=MetaDomainEvent):
    """A snapshot of any berth aggregate (stored outside the notification log)."""

    TOPIC = f"{TOPIC_PREFIX}.snapshot"

    originator_id: str
    originator_version: int
    timestamp: datetime
    topic: str
    state: dict[str, Any]


# The library registers an explicit topic only for the event classes an aggregate class
# defines itself; snapshots are shared by every aggregate, so register theirs here, where
# the class is defined: any process that can load an aggregate has imported this module.
register_topic(AggregateSnapshot.TOPIC, AggregateSnapshot)


# Values shared between an aggregate and its copies: nothing can change them in place.
_IMMUTABLE = (str, int, float, bool, type(None), bytes, datetime)


def copy_state(value: Any, memo: dict[int, Any]) -> Any:
    """A deep copy of an aggregate's attribute: dicts, lists and tuples walked, immutable
    values shared, anything else (a dataclass, a set) to `copy.deepcopy`."""
    kind = type(value)
    if kind is dict:
        return {k: copy_state(v, memo) for k, v in value.items()}
    if kind is list:
        return [copy_state(v, memo) for v in value]
    if kind in _IMMUTABLE or isinstance(value, enum.Enum):
        return value
    if kind is tuple:
        return tuple(copy_state(v, memo) for v in value)
    return copy.deepcopy(value, memo)


class StrIdAggregate(BaseAggregate[str]):
    """Base of berth's aggregates: str ids and events stamped with a passed-in `Cause`."""

    Snapshot = AggregateSnapshot

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """The copy the engine hands out of each kept aggregate (ADR/0037 and 0052): its
        state is JSON-like, which `copy_state` copies a few times faster than `deepcopy`."""
        copied = object.__new__(type(self))
        copied.__dict__.update({k: copy_state(v, memo) for k, v in self.__dict__.items()})
        return copied

    def _record(self, event_class: type[DomainEvent], cause: Cause, **fields: Any) -> None:
        self.trigger_event(
            event_class,
            timestamp=cause.at,
            actor=cause.actor,
            correlation_id=cause.correlation_id,
            **fields,
        )

    @classmethod
    def _start(cls, id: str, event_class: type[CreatedEvent], cause: Cause, **fields: Any) -> Any:
        return cls._create(
            event_class,
            id=id,
            timestamp=cause.at,
            actor=cause.actor,
            correlation_id=cause.correlation_id,
            **fields,
        )
