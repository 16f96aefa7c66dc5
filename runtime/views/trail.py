"""A container's history with what each event changed, and its document at a moment.

`inspect --at` folds the container's events with the same `containers.fold` the projection
uses, so it and `inspect` agree on every field; history follows only the few fields it
reports, with the same state transitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from berth.domain.container import ContainerState, state_after

from ..store.events import LoggedEvent
from . import containers
from .audit import details
from .moments import Moment
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


def actor_text(actor: dict[str, Any]) -> str:
    text = str(actor["kind"])
    if actor.get("uid") is not None:
        text += f" uid={actor['uid']}"
    if actor.get("pid") is not None:
        text += f" pid={actor['pid']}"
    if actor.get("command"):
        text += f" ({actor['command']})"
    return text


def details_text(entry: dict[str, Any]) -> str:
    parts = [f"{k}: {v['before']} → {v['after']}" for k, v in entry["changes"].items()]
    parts += [f"{k}={v}" for k, v in entry["details"].items()]
    return "; ".join(parts)


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
