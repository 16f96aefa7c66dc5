"""The container state machine, as data.

Theory of operation: every command a caller or a reactor can give a container is looked
up in `TRANSITIONS` by (current state, command). The answer is one of

* `Go(target)`: record the command's event and move to `target` (None: stay put);
* `NoOp(message)`: Docker answers 304 Not Modified and nothing is recorded;
* `Refuse(error, message)`: Docker's error (409, 404) and nothing is recorded.

User commands record intents (`StartRequested`, `StopRequested`, ...); reactors report
outcomes (`Started`, `Exited`, ...) through the outcome commands. A pair missing from the
table is a bug: `tests/domain/test_transitions.py` walks every pair. The state a recorded
event leaves a container in is read from the same table (`state_after`, by the event
each command records), by the aggregate and the projections alike.

Messages are dockerd 20.10's (API 1.41), with `{id}` the full id and `{name}` the
name or id the caller used.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..errors import BerthError, Conflict, InvalidParameter, NotFound


class ContainerState(StrEnum):
    CREATED = "created"
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    EXITED = "exited"
    REMOVING = "removing"
    DEAD = "dead"
    REMOVED = "removed"

    @property
    def docker_status(self) -> str:
        """The `State.Status` Docker shows; in-flight intents show the state they leave."""
        return _DOCKER_STATUS.get(self, self.value)


_DOCKER_STATUS = {
    ContainerState.STARTING: "created",
    ContainerState.STOPPING: "running",
    ContainerState.REMOVED: "removing",
}

#: The states in which the container has a process: Docker's `State.Running`, what can
#: be signalled, and what a restart stops first.
LIVE_STATES = frozenset({ContainerState.RUNNING, ContainerState.PAUSED, ContainerState.STOPPING})
#: The `State.Status` values `docker ps` lists without `--all`.
LISTED_WITHOUT_ALL = frozenset(s.docker_status for s in (*LIVE_STATES, ContainerState.RESTARTING))


class Command(StrEnum):
    # Asked for by users (API, CLI).
    START = "start"
    STOP = "stop"
    KILL = "kill"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    RESTART = "restart"
    REMOVE = "remove"
    FORCE_REMOVE = "force-remove"
    RENAME = "rename"
    UPDATE = "update"
    TOP = "top"
    ATTACH = "attach"
    DETACH = "detach"
    RESIZE = "resize"
    # Reported by reactors once the outside world has acted.
    MARK_PREPARED = "mark-prepared"
    MARK_PREPARE_FAILED = "mark-prepare-failed"
    MARK_STARTED = "mark-started"
    MARK_START_FAILED = "mark-start-failed"
    MARK_EXITED = "mark-exited"
    MARK_EXIT_UNKNOWN = "mark-exit-unknown"
    SCHEDULE_RESTART = "schedule-restart"
    MARK_REMOVED = "mark-removed"
    MARK_NETWORK_CONNECTED = "mark-network-connected"
    MARK_NETWORK_DISCONNECTED = "mark-network-disconnected"


@dataclass(frozen=True)
class Go:
    """Record the event; move to `target`, or stay where we are when it is None.

    `resting` marks a failed start: the container goes back to `created` if it never ran,
    else to `exited`, as Docker leaves it.
    """

    target: ContainerState | None
    resting: bool = False


@dataclass(frozen=True)
class NoOp:
    """Docker's 304: nothing to do, nothing recorded."""

    message: str


@dataclass(frozen=True)
class Refuse:
    error: type[BerthError]
    message: str


Outcome = Go | NoOp | Refuse

S = ContainerState
C = Command
STAY = Go(None)

ALREADY_STARTED = NoOp("Container already started")
ALREADY_STOPPED = NoOp("Container already stopped")
START_PAUSED = Refuse(Conflict, "cannot start a paused container, try unpause instead")
MARKED_FOR_REMOVAL = Refuse(Conflict, "container is marked for removal and cannot be started")
KILL_NOT_RUNNING = Refuse(Conflict, "Cannot kill container: {name}: Container {id} is not running")
NOT_RUNNING = Refuse(Conflict, "Container {id} is not running")
ALREADY_PAUSED = Refuse(Conflict, "Container {id} is already paused")
IS_RESTARTING = Refuse(
    Conflict, "Container {id} is restarting, wait until the container is running"
)
ATTACH_PAUSED = Refuse(Conflict, "container {name} is paused, unpause the container before attach")
ATTACH_RESTARTING = Refuse(
    Conflict, "container {name} is restarting, wait until the container is running"
)
NOT_PAUSED = Refuse(Conflict, "Container {id} is not paused")
RM_RUNNING = Refuse(
    Conflict,
    "You cannot remove a running container {id}. "
    "Stop the container before attempting removal or force remove",
)
RM_PAUSED = Refuse(
    Conflict,
    "You cannot remove a paused container {id}. "
    "Unpause and then stop the container before attempting removal or force remove",
)
RM_RESTARTING = Refuse(
    Conflict,
    "You cannot remove a restarting container {id}. "
    "Stop the container before attempting removal or force remove",
)
RM_IN_PROGRESS = Refuse(Conflict, "removal of container {name} is already in progress")
RENAME_REMOVING = Refuse(Conflict, "removal of container {name} is already in progress")
UPDATE_REMOVING = Refuse(
    InvalidParameter,
    'Cannot update container {id}: container is marked for removal and cannot be "update"',
)
NO_SUCH = Refuse(NotFound, "No such container: {name}")
OUT_OF_ORDER = Refuse(Conflict, "cannot record {command} for container {id}: it is {state}")

TRANSITIONS: dict[tuple[ContainerState, Command], Outcome] = {
    # start: created/exited/restarting begin starting; Docker's 304 when already up.
    (S.CREATED, C.START): Go(S.STARTING),
    (S.EXITED, C.START): Go(S.STARTING),
    (S.RESTARTING, C.START): Go(S.STARTING),
    (S.STARTING, C.START): ALREADY_STARTED,
    (S.RUNNING, C.START): ALREADY_STARTED,
    (S.STOPPING, C.START): ALREADY_STARTED,
    (S.PAUSED, C.START): START_PAUSED,
    (S.REMOVING, C.START): MARKED_FOR_REMOVAL,
    (S.DEAD, C.START): MARKED_FOR_REMOVAL,
    # stop: anything with (or about to have) a process; 304 when nothing runs.
    (S.STARTING, C.STOP): Go(S.STOPPING),
    (S.RUNNING, C.STOP): Go(S.STOPPING),
    (S.PAUSED, C.STOP): Go(S.STOPPING),
    (S.RESTARTING, C.STOP): Go(S.STOPPING),
    (S.STOPPING, C.STOP): STAY,
    (S.CREATED, C.STOP): ALREADY_STOPPED,
    (S.EXITED, C.STOP): ALREADY_STOPPED,
    (S.REMOVING, C.STOP): ALREADY_STOPPED,
    (S.DEAD, C.STOP): ALREADY_STOPPED,
    # kill: only a live process can be signalled.
    (S.RUNNING, C.KILL): STAY,
    (S.PAUSED, C.KILL): STAY,
    (S.STOPPING, C.KILL): STAY,
    (S.CREATED, C.KILL): KILL_NOT_RUNNING,
    (S.STARTING, C.KILL): KILL_NOT_RUNNING,
    (S.RESTARTING, C.KILL): KILL_NOT_RUNNING,
    (S.EXITED, C.KILL): KILL_NOT_RUNNING,
    (S.REMOVING, C.KILL): KILL_NOT_RUNNING,
    (S.DEAD, C.KILL): KILL_NOT_RUNNING,
    # pause / unpause: recorded once the freezer has acted (see ADR 0004).
    (S.RUNNING, C.PAUSE): Go(S.PAUSED),
    (S.PAUSED, C.PAUSE): ALREADY_PAUSED,
    (S.RESTARTING, C.PAUSE): IS_RESTARTING,
    (S.CREATED, C.PAUSE): NOT_RUNNING,
    (S.STARTING, C.PAUSE): NOT_RUNNING,
    (S.STOPPING, C.PAUSE): NOT_RUNNING,
    (S.EXITED, C.PAUSE): NOT_RUNNING,
    (S.REMOVING, C.PAUSE): NOT_RUNNING,
    (S.DEAD, C.PAUSE): NOT_RUNNING,
    (S.PAUSED, C.UNPAUSE): Go(S.RUNNING),
    **{(s, C.UNPAUSE): NOT_PAUSED for s in S if s not in (S.PAUSED, S.REMOVED)},
    # restart: stop what runs, then start; Docker's restart never answers 304.
    (S.RUNNING, C.RESTART): Go(S.STOPPING),
    (S.PAUSED, C.RESTART): Go(S.STOPPING),
    (S.STOPPING, C.RESTART): STAY,
    (S.STARTING, C.RESTART): STAY,
    (S.CREATED, C.RESTART): Go(S.STARTING),
    (S.EXITED, C.RESTART): Go(S.STARTING),
    (S.RESTARTING, C.RESTART): Go(S.STARTING),
    (S.REMOVING, C.RESTART): MARKED_FOR_REMOVAL,
    (S.DEAD, C.RESTART): MARKED_FOR_REMOVAL,
    # rm without force: only what does not run.
    (S.CREATED, C.REMOVE): Go(S.REMOVING),
    (S.EXITED, C.REMOVE): Go(S.REMOVING),
    (S.DEAD, C.REMOVE): Go(S.REMOVING),
    (S.STARTING, C.REMOVE): RM_RUNNING,
    (S.RUNNING, C.REMOVE): RM_RUNNING,
    (S.STOPPING, C.REMOVE): RM_RUNNING,
    (S.PAUSED, C.REMOVE): RM_PAUSED,
    (S.RESTARTING, C.REMOVE): RM_RESTARTING,
    (S.REMOVING, C.REMOVE): RM_IN_PROGRESS,
    # rm -f: the removal reactor kills first.
    **{(s, C.FORCE_REMOVE): Go(S.REMOVING) for s in S if s not in (S.REMOVING, S.REMOVED)},
    (S.REMOVING, C.FORCE_REMOVE): RM_IN_PROGRESS,
    # rename: any container that is not on its way out.
    **{(s, C.RENAME): STAY for s in S if s not in (S.REMOVING, S.REMOVED)},
    (S.REMOVING, C.RENAME): RENAME_REMOVING,
    # update: the resources of any container not on its way out (applied first, if live).
    **{(s, C.UPDATE): STAY for s in S if s not in (S.REMOVING, S.DEAD, S.REMOVED)},
    (S.REMOVING, C.UPDATE): UPDATE_REMOVING,
    (S.DEAD, C.UPDATE): UPDATE_REMOVING,
    # top: the processes of a live container, listed from the host (dockerd's event).
    **{(s, C.TOP): STAY for s in LIVE_STATES},
    (S.RESTARTING, C.TOP): IS_RESTARTING,
    **{(s, C.TOP): NOT_RUNNING for s in S if s not in (*LIVE_STATES, S.RESTARTING, S.REMOVED)},
    # attach: any container but a paused or restarting one (dockerd's ContainerAttach;
    # an ended one still gives its logs); detach: the end of an attach, recorded as it is.
    **{(s, C.ATTACH): STAY for s in S if s not in (S.PAUSED, S.RESTARTING, S.REMOVED)},
    (S.PAUSED, C.ATTACH): ATTACH_PAUSED,
    (S.RESTARTING, C.ATTACH): ATTACH_RESTARTING,
    **{(s, C.DETACH): STAY for s in S if s is not S.REMOVED},
    # resize: the terminal of a running process.
    **{(s, C.RESIZE): STAY for s in LIVE_STATES},
    **{(s, C.RESIZE): NOT_RUNNING for s in S if s not in (*LIVE_STATES, S.REMOVED)},
    # Outcomes. Duplicated reports (a reactor resumed after a crash) are 304s.
    (S.CREATED, C.MARK_PREPARED): STAY,
    (S.STARTING, C.MARK_PREPARED): STAY,
    (S.CREATED, C.MARK_PREPARE_FAILED): Go(S.DEAD),
    (S.STARTING, C.MARK_PREPARE_FAILED): Go(S.DEAD),
    (S.DEAD, C.MARK_PREPARE_FAILED): NoOp("already recorded"),
    (S.STARTING, C.MARK_STARTED): Go(S.RUNNING),
    (S.STOPPING, C.MARK_STARTED): STAY,
    (S.REMOVING, C.MARK_STARTED): STAY,
    (S.RUNNING, C.MARK_STARTED): NoOp("already recorded"),
    (S.STARTING, C.MARK_START_FAILED): Go(S.CREATED, resting=True),
    (S.STOPPING, C.MARK_START_FAILED): Go(S.CREATED, resting=True),
    (S.REMOVING, C.MARK_START_FAILED): STAY,
    **{(s, C.MARK_EXITED): Go(S.EXITED) for s in (S.STARTING, *LIVE_STATES)},
    (S.REMOVING, C.MARK_EXITED): STAY,
    (S.EXITED, C.MARK_EXITED): NoOp("already recorded"),
    **{(s, C.MARK_EXIT_UNKNOWN): Go(S.EXITED) for s in (S.STARTING, *LIVE_STATES)},
    (S.REMOVING, C.MARK_EXIT_UNKNOWN): STAY,
    (S.EXITED, C.MARK_EXIT_UNKNOWN): NoOp("already recorded"),
    (S.EXITED, C.SCHEDULE_RESTART): Go(S.RESTARTING),
    (S.REMOVING, C.MARK_REMOVED): Go(S.REMOVED),
    # Networking is set up while starting (a stop or rm may already be asked for) and
    # torn down whenever the process is gone; neither changes the state.
    (S.STARTING, C.MARK_NETWORK_CONNECTED): STAY,
    (S.STOPPING, C.MARK_NETWORK_CONNECTED): STAY,
    (S.REMOVING, C.MARK_NETWORK_CONNECTED): STAY,
    **{(s, C.MARK_NETWORK_DISCONNECTED): STAY for s in S if s is not S.REMOVED},
}

# Every other pair: a removed container is gone (404), anything else is out of order.
for _state in S:
    for _command in C:
        TRANSITIONS.setdefault((_state, _command), NO_SUCH if _state is S.REMOVED else OUT_OF_ORDER)
del _state, _command


def decide(state: ContainerState, command: Command) -> Outcome:
    """The table's answer for `command` given to a container in `state`."""
    return TRANSITIONS[(state, command)]


#: The event each command records when the table says Go (the aggregate's event classes
#: bear these names); the log is read back through it by `state_after`.
RECORDS: dict[Command, str] = {
    C.START: "StartRequested",
    C.STOP: "StopRequested",
    C.KILL: "KillRequested",
    C.PAUSE: "Paused",
    C.UNPAUSE: "Unpaused",
    C.RESTART: "RestartRequested",
    C.REMOVE: "RemovalRequested",
    C.FORCE_REMOVE: "RemovalRequested",
    C.RENAME: "Renamed",
    C.UPDATE: "Updated",
    C.TOP: "ProcessesListed",
    C.ATTACH: "Attached",
    C.DETACH: "Detached",
    C.RESIZE: "Resized",
    C.MARK_PREPARED: "Prepared",
    C.MARK_PREPARE_FAILED: "PrepareFailed",
    C.MARK_STARTED: "Started",
    C.MARK_START_FAILED: "StartFailed",
    C.MARK_EXITED: "Exited",
    C.MARK_EXIT_UNKNOWN: "ExitCodeUnknown",
    C.SCHEDULE_RESTART: "RestartScheduled",
    C.MARK_REMOVED: "Removed",
    C.MARK_NETWORK_CONNECTED: "NetworkConnected",
    C.MARK_NETWORK_DISCONNECTED: "NetworkDisconnected",
}
#: The first event of every container, which no command of the table records.
CREATED_EVENT = "Created"


def _moves_by_event() -> dict[tuple[ContainerState, str], Go]:
    """TRANSITIONS read by the event recorded instead of the command given."""
    moves: dict[tuple[ContainerState, str], Go] = {}
    for (state, command), outcome in TRANSITIONS.items():
        if not isinstance(outcome, Go):
            continue
        # Two commands recording one event (rm, rm -f) must move it alike.
        if moves.setdefault((state, RECORDS[command]), outcome) != outcome:
            raise ValueError(f"{RECORDS[command]} moves a {state} container two ways")
    return moves


_MOVES = _moves_by_event()


def state_after(event_name: str, current: ContainerState, has_run: bool) -> ContainerState:
    """The state a recorded event leaves a container in, as TRANSITIONS says.

    Shared by the aggregate and the projections, so the two can never disagree.
    `has_run` tells whether the container ever started before this event. An event the
    table would not have recorded in `current` (no log berth writes holds one) leaves
    the state as it is.
    """
    if event_name == CREATED_EVENT:
        return S.CREATED
    move = _MOVES.get((current, event_name))
    if move is None:
        return current
    if move.resting:
        return S.EXITED if has_run else S.CREATED
    return move.target or current
