"""Every (state, command) pair, checked against the transition table, plus Docker's texts."""

from __future__ import annotations

import pytest

from berth.domain.container import (
    EVENT_OF_COMMAND,
    TRANSITIONS,
    Command,
    Container,
    ContainerState,
    Go,
    NoOp,
    Refuse,
    state_after,
)
from berth.domain.errors import BerthError, Conflict, InvalidParameter, NotFound, NotModified

from .factories import CID, cause_at, container_in, do

PAIRS = [(s, c) for s in ContainerState for c in Command]


def test_table_covers_every_pair() -> None:
    assert set(TRANSITIONS) == set(PAIRS)


@pytest.mark.parametrize(("state", "command"), PAIRS, ids=lambda v: v.value)
def test_pair_behaves_as_the_table_says(state: ContainerState, command: Command) -> None:
    container = container_in(state)
    if command is Command.MARK_NETWORK_DISCONNECTED:
        # Only a connected container has something to disconnect (else 304, tested below).
        container.network = {"id": "n" * 64}
    version = container.version
    expected = TRANSITIONS[(state, command)]
    if isinstance(expected, Go):
        do(container, command)
        events = container.collect_events()
        assert [type(e).__name__ for e in events] == [EVENT_OF_COMMAND[command].__name__]
        if expected.resting:
            ran = container.started_at is not None
            target = ContainerState.EXITED if ran else ContainerState.CREATED
        else:
            target = expected.target or state
        assert container.state is target
        assert container.version == version + 1
        return
    with pytest.raises(BerthError) as raised:
        do(container, command)
    if isinstance(expected, NoOp):
        assert type(raised.value) is NotModified
        assert raised.value.message == expected.message
    else:
        assert isinstance(expected, Refuse)
        assert type(raised.value) is expected.error
        assert raised.value.message == expected.message.format(
            id=CID, name="web", command=command.value, state=state.value
        )
    assert container.collect_events() == []
    assert container.version == version
    assert container.state is state


def test_every_event_but_created_is_recorded_by_a_command() -> None:
    events = {
        name
        for name, value in vars(Container).items()
        if isinstance(value, type) and issubclass(value, Container.Event) and name != "Event"
    }
    recorded = {event.__name__ for event in EVENT_OF_COMMAND.values()}
    assert events == recorded | {"Created"}
    assert set(EVENT_OF_COMMAND) == set(Command)


@pytest.mark.parametrize(("state", "command"), PAIRS, ids=lambda v: v.value)
def test_the_state_after_an_event_is_the_tables(state: ContainerState, command: Command) -> None:
    """What the log is read back with: the target of the pair that recorded the event; an
    event the table would not record in that state leaves it (no log berth writes has one)."""
    event = EVENT_OF_COMMAND[command].__name__
    outcome = TRANSITIONS[(state, command)]
    others = [c for c in Command if EVENT_OF_COMMAND[c].__name__ == event and c is not command]
    recorded_by_other = any(isinstance(TRANSITIONS[(state, c)], Go) for c in others)
    for has_run in (False, True):
        after = state_after(event, state, has_run)
        if isinstance(outcome, Go) and outcome.resting:
            assert after is (ContainerState.EXITED if has_run else ContainerState.CREATED)
        elif isinstance(outcome, Go):
            assert after is (outcome.target or state)
        elif not recorded_by_other:
            assert after is state


def test_network_outcomes_are_recorded_once() -> None:
    container = container_in(ContainerState.STARTING)
    do(container, Command.MARK_NETWORK_CONNECTED)
    assert container.endpoint is not None
    assert container.endpoint["IPAddress"] == "172.17.0.2"
    with pytest.raises(NotModified):
        do(container, Command.MARK_NETWORK_CONNECTED)
    do(container, Command.MARK_NETWORK_DISCONNECTED)
    assert container.endpoint is None
    with pytest.raises(NotModified):
        do(container, Command.MARK_NETWORK_DISCONNECTED)
    assert [type(e).__name__ for e in container.collect_events()][-2:] == [
        "NetworkConnected",
        "NetworkDisconnected",
    ]


@pytest.mark.parametrize(
    ("state", "command", "error", "message"),
    [
        (ContainerState.RUNNING, Command.START, NotModified, "Container already started"),
        (
            ContainerState.PAUSED,
            Command.START,
            Conflict,
            "cannot start a paused container, try unpause instead",
        ),
        (
            ContainerState.EXITED,
            Command.KILL,
            Conflict,
            f"Cannot kill container: web: Container {CID} is not running",
        ),
        (
            ContainerState.CREATED,
            Command.KILL,
            Conflict,
            f"Cannot kill container: web: Container {CID} is not running",
        ),
        (ContainerState.PAUSED, Command.PAUSE, Conflict, f"Container {CID} is already paused"),
        (ContainerState.RUNNING, Command.UNPAUSE, Conflict, f"Container {CID} is not paused"),
        (ContainerState.EXITED, Command.STOP, NotModified, "Container already stopped"),
        (
            ContainerState.RUNNING,
            Command.REMOVE,
            Conflict,
            f"You cannot remove a running container {CID}. Stop the container before "
            "attempting removal or force remove",
        ),
        (
            ContainerState.PAUSED,
            Command.REMOVE,
            Conflict,
            f"You cannot remove a paused container {CID}. Unpause and then stop the "
            "container before attempting removal or force remove",
        ),
        (ContainerState.REMOVED, Command.START, NotFound, "No such container: web"),
        (
            ContainerState.REMOVING,
            Command.REMOVE,
            Conflict,
            "removal of container web is already in progress",
        ),
    ],
)
def test_docker_answers(
    state: ContainerState, command: Command, error: type[BerthError], message: str
) -> None:
    container = container_in(state)
    with pytest.raises(error) as raised:
        do(container, command)
    assert raised.value.message == message
    assert raised.value.http_status == {NotModified: 304, Conflict: 409, NotFound: 404}[error]


def test_failed_first_start_leaves_container_created() -> None:
    container = container_in(ContainerState.STARTING)
    do(container, Command.MARK_START_FAILED)
    assert container.state is ContainerState.CREATED
    assert container.exit_code == 127
    assert "executable file not found" in container.error


def test_failed_restart_leaves_container_exited() -> None:
    container = container_in(ContainerState.EXITED)
    do(container, Command.START)
    do(container, Command.MARK_START_FAILED)
    assert container.state is ContainerState.EXITED


def test_rename_to_same_name_is_refused() -> None:
    container = container_in(ContainerState.CREATED)
    with pytest.raises(InvalidParameter, match="same name as its current name"):
        container.rename("/web", cause_at())
    assert container.collect_events() == []


def test_events_carry_time_actor_and_correlation() -> None:
    container = container_in(ContainerState.CREATED)
    do(container, Command.START, at=5)
    (event,) = container.collect_events()
    assert event.timestamp.isoformat() == "2026-11-28T12:00:05+00:00"
    assert event.actor.uid == 1000 and event.actor.pid == 4242
    assert event.correlation_id == "req-1"


def test_a_namespace_donor_is_a_live_container_not_restarting() -> None:
    """`--pid container:X`: dockerd's checkContainer, with top's messages."""
    running = container_in(ContainerState.RUNNING)
    assert running.namespace_donor_pid() == running.pid > 0
    assert container_in(ContainerState.PAUSED).namespace_donor_pid() > 0
    with pytest.raises(Conflict, match="is restarting, wait until the container is running"):
        container_in(ContainerState.RESTARTING).namespace_donor_pid()
    for state in (ContainerState.CREATED, ContainerState.EXITED):
        with pytest.raises(Conflict, match=r"Container [0-9a-f]{64} is not running"):
            container_in(state).namespace_donor_pid()
