"""A hypothesis state machine drives the Container aggregate against a small model.

The model is written independently of the transition table, as plain Docker rules; each
step compares the aggregate's answer (event, 304 or error status) and state with it, and
the events recorded so far must rebuild an equal aggregate.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from berth.domain.container import Command, Container
from berth.domain.errors import BerthError

from .factories import do, new_container

LIVE = {"running", "paused", "stopping"}


def model(state: str, has_run: bool, connected: bool, command: Command) -> tuple[int, str]:
    """(HTTP-ish status, next state): 200 recorded, 304 nothing to do, 404/409 refused."""
    if state == "removed":
        return 404, state
    c = Command
    if command is c.MARK_NETWORK_CONNECTED:
        if state not in ("starting", "stopping", "removing"):
            return 409, state
        return (304, state) if connected else (200, state)
    if command is c.MARK_NETWORK_DISCONNECTED:
        return (200, state) if connected else (304, state)
    if command is c.START:
        if state in ("created", "exited", "restarting"):
            return 200, "starting"
        if state in ("starting", "running", "stopping"):
            return 304, state
        return 409, state
    if command is c.STOP:
        if state in ("starting", "restarting") or state in LIVE:
            return 200, "stopping"
        return 304, state
    if command is c.KILL:
        return (200, state) if state in LIVE else (409, state)
    if command is c.PAUSE:
        return (200, "paused") if state == "running" else (409, state)
    if command is c.UNPAUSE:
        return (200, "running") if state == "paused" else (409, state)
    if command is c.RESTART:
        if state in ("removing", "dead"):
            return 409, state
        if state in LIVE:
            return 200, "stopping"
        return 200, "starting"
    if command is c.REMOVE:
        return (200, "removing") if state in ("created", "exited", "dead") else (409, state)
    if command is c.FORCE_REMOVE:
        return (409, state) if state == "removing" else (200, "removing")
    if command is c.RENAME:
        return (409, state) if state == "removing" else (200, state)
    if command is c.TOP:
        return (200, state) if state in LIVE else (409, state)
    if command is c.ATTACH:  # dockerd refuses only the paused and the restarting
        return (409, state) if state in ("paused", "restarting") else (200, state)
    if command is c.DETACH:
        return 200, state
    if command is c.RESIZE:
        return (200, state) if state in LIVE else (409, state)
    if command is c.UPDATE:  # dockerd's "Cannot update container": a 400
        return (400, state) if state in ("removing", "dead") else (200, state)
    if command is c.MARK_PREPARED:
        return (200, state) if state in ("created", "starting") else (409, state)
    if command is c.MARK_PREPARE_FAILED:
        if state in ("created", "starting"):
            return 200, "dead"
        return (304, state) if state == "dead" else (409, state)
    if command is c.MARK_STARTED:
        if state == "starting":
            return 200, "running"
        if state in ("stopping", "removing"):
            return 200, state
        return (304, state) if state == "running" else (409, state)
    if command is c.MARK_START_FAILED:
        if state in ("starting", "stopping"):
            return 200, "exited" if has_run else "created"
        return (200, state) if state == "removing" else (409, state)
    if command in (c.MARK_EXITED, c.MARK_EXIT_UNKNOWN):
        if state == "starting" or state in LIVE:
            return 200, "exited"
        if state == "removing":
            return 200, state
        return (304, state) if state == "exited" else (409, state)
    if command is c.SCHEDULE_RESTART:
        return (200, "restarting") if state == "exited" else (409, state)
    assert command is c.MARK_REMOVED
    return (200, "removed") if state == "removing" else (409, state)


class ContainerLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.container = new_container()
        self.events: list[Any] = list(self.container.collect_events())
        self.state = "created"
        self.has_run = False
        self.connected = False
        self.clock = 1.0

    @rule(command=st.sampled_from(list(Command)))
    def give(self, command: Command) -> None:
        self.clock += 1
        expected_status, expected_state = model(self.state, self.has_run, self.connected, command)
        version = self.container.version
        try:
            do(self.container, command, at=self.clock)
            status = 200
        except BerthError as error:
            status = error.http_status
        assert status == expected_status, (self.state, command)
        new_events = self.container.collect_events()
        assert len(new_events) == (1 if status == 200 else 0)
        assert self.container.version == version + len(new_events)
        self.events.extend(new_events)
        if command is Command.MARK_STARTED and status == 200:
            self.has_run = True
        if status == 200 and command is Command.MARK_NETWORK_CONNECTED:
            self.connected = True
        if status == 200 and command is Command.MARK_NETWORK_DISCONNECTED:
            self.connected = False
        self.state = expected_state

    @invariant()
    def state_matches_model(self) -> None:
        assert self.container.state.value == self.state

    @invariant()
    def events_rebuild_the_same_aggregate(self) -> None:
        rebuilt: Container | None = None
        for event in self.events:
            rebuilt = event.mutate(rebuilt)
        assert rebuilt is not None
        assert rebuilt.__dict__ == self.container.__dict__


ContainerLifecycle.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestContainerLifecycle = ContainerLifecycle.TestCase
