"""The Name aggregate: one per container name, so a name can have only one owner.

The id is derived from the name (uuid5), so two creates racing for "/web" both write
version 1 of the same aggregate and the store's optimistic concurrency lets exactly one
through. The Name is saved in the same transaction as the Container it names; a released
name is claimed again by the next container, at the next version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .aggregate import CreatedEvent, DomainEvent, StrIdAggregate
from .cause import Cause
from .errors import Conflict

T = "berth.name"
NAMES_NAMESPACE = uuid.UUID("6f0b1c0e-3b7a-5d7e-9a51-2c1f4d8e0b9a")


def name_id(name: str, host: str | None = None) -> str:
    """The aggregate id of a canonical name such as "/web": one per fleet host, as names
    are per host in Docker (a lone host's `host` is None)."""
    where = f"/hosts/{host}" if host else ""
    return str(uuid.uuid5(NAMES_NAMESPACE, f"{where}/names{name}"))


def name_conflict(name: str, owner: str) -> Conflict:
    return Conflict(
        f'Conflict. The container name "{name}" is already in use by container "{owner}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )


class Name(StrIdAggregate):
    TOPIC = T

    @dataclass(frozen=True)
    class Event(DomainEvent):
        TOPIC = f"{T}.Event"

    @dataclass(frozen=True)
    class Registered(Event, CreatedEvent):
        """First claim of a name ever."""

        TOPIC = f"{T}.Registered"
        name: str
        container_id: str

        def apply(self, n: Name) -> None:
            n.name = self.name
            n.owner = self.container_id

    @dataclass(frozen=True)
    class Claimed(Event):
        TOPIC = f"{T}.Claimed"
        container_id: str

        def apply(self, n: Name) -> None:
            n.owner = self.container_id

    @dataclass(frozen=True)
    class Released(Event):
        TOPIC = f"{T}.Released"
        container_id: str

        def apply(self, n: Name) -> None:
            n.owner = None

    if TYPE_CHECKING:
        name: str
        owner: str | None

    @classmethod
    def register(cls, name: str, container_id: str, cause: Cause) -> Name:
        registered: Name = cls._start(
            name_id(name, cause.actor.host),
            cls.Registered,
            cause,
            name=name,
            container_id=container_id,
        )
        return registered

    def claim(self, container_id: str, cause: Cause) -> None:
        if self.owner is not None:
            raise name_conflict(self.name, self.owner)
        self._record(self.Claimed, cause, container_id=container_id)

    def release(self, container_id: str, cause: Cause) -> bool:
        """Give the name up; a no-op (False) unless `container_id` holds it."""
        if self.owner != container_id:
            return False
        self._record(self.Released, cause, container_id=container_id)
        return True
