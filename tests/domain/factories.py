"""Builders shared by the domain tests: causes at fixed times, containers in any state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth.domain.cause import Actor, ActorKind, Cause
from berth.domain.container import Command, Container, ContainerState

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
API = Actor(ActorKind.API, uid=1000, pid=4242)
CID = "c0ffee" + "0" * 58


def cause_at(seconds: float = 0, actor: Actor = API, correlation_id: str = "req-1") -> Cause:
    return Cause(T0 + timedelta(seconds=seconds), actor, correlation_id)


def new_container(cid: str = CID, name: str = "/web") -> Container:
    return Container.create(
        id=cid,
        name=name,
        image="busybox",
        image_id="sha256:" + "ab" * 32,
        config={"Cmd": ["sh"], "Image": "busybox"},
        host_config={"NetworkMode": "bridge"},
        cause=cause_at(),
    )


def _run(c: Container) -> None:
    c.request_start(cause_at(1))
    c.mark_started(100, T0, cause_at(2))


# How to reach each state from a fresh container.
PATHS: dict[ContainerState, list[str]] = {
    ContainerState.CREATED: [],
    ContainerState.STARTING: ["start"],
    ContainerState.RUNNING: ["start", "started"],
    ContainerState.PAUSED: ["start", "started", "pause"],
    ContainerState.STOPPING: ["start", "started", "stop"],
    ContainerState.EXITED: ["start", "started", "exited"],
    ContainerState.RESTARTING: ["start", "started", "exited", "schedule"],
    ContainerState.REMOVING: ["remove"],
    ContainerState.REMOVED: ["remove", "removed"],
    ContainerState.DEAD: ["prepare-failed"],
}


def do(c: Container, command: Command, at: float = 10) -> None:
    """Give `command` to `c` with plausible arguments."""
    k = cause_at(at)
    match command:
        case Command.START:
            c.request_start(k)
        case Command.STOP:
            c.request_stop("SIGTERM", 10, k)
        case Command.KILL:
            c.request_kill("SIGKILL", k)
        case Command.PAUSE:
            c.pause(k)
        case Command.UNPAUSE:
            c.unpause(k)
        case Command.RESTART:
            c.request_restart(10, k)
        case Command.REMOVE:
            c.request_removal(False, k)
        case Command.FORCE_REMOVE:
            c.request_removal(True, k)
        case Command.RENAME:
            c.rename(c.name + "x", k)
        case Command.UPDATE:
            c.update({"Memory": 64 << 20}, k)
        case Command.TOP:
            c.list_processes(k)
        case Command.ATTACH:
            c.attach(k)
        case Command.DETACH:
            c.detach(k)
        case Command.RESIZE:
            c.resize(40, 120, k)
        case Command.MARK_PREPARED:
            c.mark_prepared("/rootfs", k)
        case Command.MARK_PREPARE_FAILED:
            c.mark_prepare_failed("no space left on device", k)
        case Command.MARK_STARTED:
            c.mark_started(100, T0, k)
        case Command.MARK_START_FAILED:
            c.mark_start_failed('exec: "x": executable file not found in $PATH', 127, k)
        case Command.MARK_EXITED:
            c.mark_exited(3, False, T0 + timedelta(seconds=at), k)
        case Command.MARK_EXIT_UNKNOWN:
            c.mark_exit_unknown("no exit status found", T0 + timedelta(seconds=at), k)
        case Command.SCHEDULE_RESTART:
            c.schedule_restart(100, k)
        case Command.MARK_REMOVED:
            c.mark_removed(k)
        case Command.MARK_NETWORK_CONNECTED:
            c.mark_network_connected("n" * 64, "bridge", {"IPAddress": "172.17.0.2"}, k)
        case Command.MARK_NETWORK_DISCONNECTED:
            c.mark_network_disconnected(k)


_STEP_COMMANDS = {
    "start": Command.START,
    "started": Command.MARK_STARTED,
    "pause": Command.PAUSE,
    "stop": Command.STOP,
    "exited": Command.MARK_EXITED,
    "schedule": Command.SCHEDULE_RESTART,
    "remove": Command.REMOVE,
    "removed": Command.MARK_REMOVED,
    "prepare-failed": Command.MARK_PREPARE_FAILED,
}


def container_in(state: ContainerState) -> Container:
    c = new_container()
    for i, step in enumerate(PATHS[state]):
        do(c, _STEP_COMMANDS[step], at=i + 1)
    assert c.state is state
    c.collect_events()
    return c
