"""A container's trail in the log: found by any name it had, its history with what each
event changed, and its document or aggregate as it was at a moment.

`inspect --at` folds the container's events with the same `containers.fold` the projection
uses, so it and `inspect` agree on every field; history follows only the few fields it
reports, with the same state transitions. Removed containers are found too: by full id, or
by the last name they had.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from berth.domain.container import Container, ContainerState, is_container_id, state_after
from berth.domain.errors import NotFound
from berth.domain.name_claim import name_id

from ..store.events import EventStore, LoggedEvent
from . import containers
from .audit import details
from .moments import Moment, parse_moment
from .timefmt import docker_time

REMOVED = "removed"
TRACKED = ("state", "name", "restart_count")


class _Tracked:
    """What history reports before → after: the state (by the same `state_after` the
    projection folds with), the name and the restart count."""

    def __init__(self) -> None:
        self.state: ContainerState | None = None
        self.has_run = False
        self.name: str | None = None
        self.restart_count = 0
        self.values: tuple[Any, ...] = ()  # (state, name, restart count) as reported

    def apply(self, event: LoggedEvent) -> None:
        data = event.data
        if event.name == "Created":
            self.state, self.has_run, self.name = ContainerState.CREATED, False, data["name"]
            self.restart_count = 0
        elif self.state is None:
            return
        else:
            self.state = state_after(event.name, self.state, self.has_run)
            if event.name == "Started":
                self.has_run = True
            elif event.name == "Renamed":
                self.name = data["new_name"]
            elif event.name == "RestartScheduled":
                self.restart_count = data["restart_count"]
            elif event.name == "Removed":
                self.state = ContainerState.REMOVED
        state = REMOVED if self.state is ContainerState.REMOVED else self.state.value
        self.values = (state, self.name, self.restart_count)


def history_entries(events: Iterable[LoggedEvent]) -> list[dict[str, Any]]:
    """One entry per event, oldest first: who, when, and what changed (before → after)."""
    entries = []
    tracked = _Tracked()
    for event in events:
        before = tracked.values
        tracked.apply(event)
        after = tracked.values
        shown = details(event)
        changes: dict[str, dict[str, Any]] = {}
        if before and before != after:
            for key, old, new in zip(TRACKED, before, after, strict=True):
                if old != new:
                    changes[key] = {"before": old, "after": new}
        # Events that carry their own before and after (old_x/new_x) say so directly.
        for key in [k for k in shown if k.startswith("old_")]:
            field = key[4:]
            if f"new_{field}" in shown:
                changes[field] = {"before": shown.pop(key), "after": shown.pop(f"new_{field}")}
        entries.append(
            {
                "position": event.position,
                "version": event.version,
                "time": docker_time(event.timestamp),
                "action": event.name,
                "actor": event.data["actor"].to_dict(),
                "correlation_id": event.data["correlation_id"],
                "changes": changes,
                "details": shown,
            }
        )
    return entries


def document_at(events: Iterable[LoggedEvent], moment: Moment) -> dict[str, Any] | None:
    """The inspect document after the last event at or before `moment`; None if the
    container did not exist then (not created yet, or already removed)."""
    row: dict[str, Any] | None = None
    for event in events:
        if moment.position is not None and event.position > moment.position:
            break
        if moment.time is not None and event.timestamp > moment.time:
            break
        row = containers.fold(row, event)
    return row["doc"] if row is not None else None


class ContainerLookup(Protocol):
    """What finding a container needs: the log, and Docker's lookup among the living."""

    store: EventStore

    def resolve_container(self, ref: str) -> str: ...


def find_container_id(lookup: ContainerLookup, ref: str) -> str:
    """Docker's lookup, then a removed container by its full id or the last name it had."""
    try:
        return lookup.resolve_container(ref)
    except NotFound:
        store = lookup.store
        if is_container_id(ref) and store.aggregate_log(ref, until_version=1):
            return ref
        owner_log = store.aggregate_log(name_id("/" + ref.lstrip("/"), store.host_id))
        for event in reversed(owner_log):
            if "container_id" in event.data:
                return str(event.data["container_id"])
        raise


def container_history(lookup: ContainerLookup, ref: str) -> list[dict[str, Any]]:
    """`berth history`: every event of the container, removed or not, oldest first."""
    return history_entries(lookup.store.aggregate_log(find_container_id(lookup, ref)))


def document_at_moment(lookup: ContainerLookup, ref: str, at: str, now: datetime) -> dict[str, Any]:
    """`berth inspect --at`: the document as it was at `at` (a time or #POSITION)."""
    moment = parse_moment(at, now)
    events = lookup.store.aggregate_log(find_container_id(lookup, ref))
    document = document_at(events, moment)
    if document is None:
        raise NotFound(f"No such container: {ref} at {at}")
    return document


def container_document_at(
    store: EventStore, container_id: str, *, version: int | None = None, at: datetime | None = None
) -> dict[str, Any] | None:
    """The inspect document at a version or a time; None if the container did not exist."""
    return document_at(store.aggregate_log(container_id, until_version=version), Moment(time=at))


def container_at(
    store: EventStore, container_id: str, *, version: int | None = None, at: datetime | None = None
) -> Container | None:
    """The aggregate as of a version or a time (snapshots keep long histories fast).

    None when the container did not exist yet at that time.
    """
    if at is not None:
        versions = [e.version for e in store.aggregate_log(container_id) if e.timestamp <= at]
        if not versions:
            return None
        version = versions[-1] if version is None else min(version, versions[-1])
    container: Container = store.repository.get(container_id, version=version)
    return container
