"""Reconcile: when an engine starts, the log is held against what exists.

The engine that reconciles holds the root's lock (adapters.rootlock): whatever is half
done was left by a process that is gone. Reconcile records what it observes — it does not
resume intents: the reactor does that from its tracked position (reactions.py). For each
container of the log:

- one the log says runs is watched again if its process lives (the freezer's word on
  pause is recorded); an exit that happened meanwhile is recorded with its true status,
  or as unknown when nothing tells it;
- a start cut short after runc got the process running is recorded as `Started`;
- one that should run nothing has no runc container, monitor or network.

Then what belongs to no container of the log, or to a removed one, is swept: runc
containers, monitors, directories and mounts, processes in this root's cgroups, network
namespaces, veths and port forwarders, what a pull cut short left. berthd (not a `berth`
command running the engine) then applies the restart policies of containers that exited
while no daemon ran, and starts `always`/`unless-stopped` ones, as dockerd at boot. Every
outcome recorded here is caused by `reconcile`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from berth.adapters import cgroups
from berth.domain.cause import Actor, ActorKind
from berth.domain.container import LIVE_STATES as LIVE
from berth.domain.container import Container, ContainerState, is_container_id
from berth.domain.container.restart import restart_delay_ms, starts_on_boot
from berth.domain.errors import BerthError
from berth.domain.spec import HostFacts

from .actions import ContainerActions
from .exits import ExitWatcher

log = logging.getLogger(__name__)
RECONCILE = Actor(ActorKind.RECONCILE)
RESTART_POLICY = Actor(ActorKind.RESTART_POLICY)
S = ContainerState
STOPPED = (S.CREATED, S.EXITED, S.DEAD)
NO_STATUS = "no exit status found after engine restart"


async def reconcile(actions: ContainerActions, exits: ExitWatcher, *, daemon: bool) -> None:
    # A crash between a save and its projection leaves the views behind the log.
    await actions.sync(actions.engine.catch_up)
    rows = await actions.sync(actions.engine.views.container_rows)
    for row in rows:
        try:
            await reconcile_container(actions, exits, row["id"])
        except BerthError as error:
            log.warning("container %s: reconcile: %s", row["id"][:12], error.message)
    try:
        await actions.networks.reconcile(RECONCILE)
    except BerthError as error:
        log.warning("network reconcile: %s", error.message)
    await sweep(actions, {row["id"] for row in rows})
    for partial in await actions.images.discard_partial():
        log.warning("removed what a crash left of a pull: %s", partial)
    if daemon:
        await actions.images.collect_garbage()  # layers and blobs of a pull cut short
        for row in rows:
            await boot_policy(actions, row["id"])


async def reconcile_container(actions: ContainerActions, exits: ExitWatcher, cid: str) -> None:
    async with actions.locks.hold(cid):
        container = await actions.load(cid)
        state = container.state
        if state in STOPPED:
            await _leave_nothing_running(actions, container)
            return
        if state not in (*LIVE, S.STARTING):
            return  # a removal or a restart in flight: the reactor resumes it
        runtime = actions.runtime
        runc = await runtime.state(cid)
        alive = runc is not None and runc.status in ("running", "paused")
        status = runtime.exit_status(cid)
        if state is S.STARTING:
            if runc is not None and alive and status is None:
                pid = runc.pid
                await actions.record_started(cid, pid, RECONCILE)
            return  # else the reactor undoes what the start left and carries it out
        if runc is not None and alive and status is None:
            await _correct_pause(actions, cid, state, runc.status)
            exits.watch(cid)
        elif status is None and runtime.monitor_pid(cid) is not None:
            exits.watch(cid)  # exited an instant ago: its monitor is writing the exit
        else:
            await actions.record_exit(cid, status, RECONCILE, NO_STATUS)


async def _leave_nothing_running(actions: ContainerActions, container: Container) -> None:
    """No runc container, monitor or network for a container that should have none."""
    if actions.runtime.knows(container.id):
        await actions.runtime.delete(container.id, force=True)
    if container.endpoint is not None:
        await actions.disconnect(container.id, RECONCILE)


async def _correct_pause(actions: ContainerActions, cid: str, state: S, runc_status: str) -> None:
    """The freezer is the truth about pause (moby#25870): record what it says."""
    if state is S.RUNNING and runc_status == "paused":
        await actions.record(cid, lambda c, k: c.pause(k), RECONCILE)
    elif state is S.PAUSED and runc_status == "running":
        await actions.record(cid, lambda c, k: c.unpause(k), RECONCILE)


async def boot_policy(actions: ContainerActions, cid: str) -> None:
    """As dockerd at boot: the policy of a container that exited while no daemon ran
    applies now, and `always` (and not manually stopped `unless-stopped`) ones start."""
    async with actions.locks.hold(cid):
        container = await actions.load(cid)
        if container.state is S.EXITED and (delay := restart_delay_ms(container)) is not None:
            await actions.record(cid, lambda c, k: c.schedule_restart(delay, k), RESTART_POLICY)
        elif container.state in (S.EXITED, S.CREATED) and starts_on_boot(container):
            await actions.sync(actions.engine.start, cid, RESTART_POLICY)


# Sweeping what belongs to no container ------------------------------------------------------


async def sweep(actions: ContainerActions, listed: set[str]) -> None:
    """Remove what belongs to no listed (not removed) container of this root."""
    found = actions.runtime.container_ids() | {p.name for p in _children(actions.containers_dir)}
    found |= set(actions.images.snapshots.containers())
    for container_id in sorted(c for c in found - listed if is_container_id(c)):
        log.warning("removing leftovers of container %s", container_id[:12])
        await actions.leftovers.clear(container_id)
    await _sweep_cgroups(actions)


async def _sweep_cgroups(actions: ContainerActions) -> None:
    """Kill what is left in the cgroups of this root's containers that should run nothing.

    The cgroup parent is shared by every engine on the host, so only cgroups named after
    a container of this root's log are touched, each under its container's lock.
    """
    parents = {HostFacts().cgroup_parent, actions.runtime.monitor_cgroup_parent or ""} - {""}
    for parent in sorted(parents):
        for relative in await actions.sync(cgroups.children, parent):
            name = relative.rsplit("/", 1)[-1]
            container_id = name.removeprefix("conmon-")
            if not is_container_id(container_id):
                continue
            async with actions.locks.hold(container_id):
                container = await actions.sync(actions.engine.find_aggregate, container_id)
                if not isinstance(container, Container):
                    continue  # another engine's container
                if container.pid or container.state is S.STARTING:
                    continue  # it runs, or is about to
                if name.startswith("conmon-") and actions.runtime.monitor_pid(container_id):
                    continue  # a monitor still writing an exit (its watcher records it)
                killed = await actions.sync(cgroups.kill_all, relative)
                if killed:
                    log.warning("killed %d leftover process(es) in cgroup %s", killed, relative)
                await actions.sync(cgroups.remove_everywhere, relative)


def _children(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []
