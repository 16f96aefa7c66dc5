"""Reconcile: when an engine starts, make the log and the world agree again.

The engine that reconciles holds the root's lock (adapters.rootlock): whatever is half
done was left by a process that is gone, so nothing is waited for. Each container the
log knows is checked against runc, its monitor's exit file and its network:

- a removal in flight is finished;
- a start cut short is recorded if runc got as far as running the process (`Started`),
  and otherwise undone and carried out again: the log holds the intent;
- a live container keeps running and is watched again (a stop in flight is finished);
  an exit that happened meanwhile is recorded with its true status, or as unknown;
- a container that should have no process has none: a leftover runc container (a
  `runc init` left by a crash between create and start), its monitor, its network.

Then everything on the host that belongs to no container of the log, or to a removed
one, is swept: runc containers, monitors, containers' directories and mounts, cgroups
with processes, namespaces, veths and port forwarders. Every outcome recorded here is
caused by `reconcile`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from berth.adapters import cgroups
from berth.domain.cause import Actor, ActorKind
from berth.domain.container import Container, ContainerState, is_container_id
from berth.domain.container.restart import restart_delay_ms, starts_on_boot
from berth.domain.errors import BerthError
from berth.domain.spec import HostFacts

if TYPE_CHECKING:
    from .runner import Runner

log = logging.getLogger(__name__)
RECONCILE = Actor(ActorKind.RECONCILE)
RESTART_POLICY = Actor(ActorKind.RESTART_POLICY)
S = ContainerState
STOPPED = (S.CREATED, S.EXITED, S.DEAD)
NO_STATUS = "no exit status found after engine restart"


async def reconcile(runner: Runner) -> None:
    # A crash between a save and its projection leaves the views behind the log.
    await runner.sync(runner.engine.catch_up)
    rows = await runner.sync(runner.engine.views.container_rows)
    for row in rows:
        try:
            await reconcile_container(runner, row["id"])
        except BerthError as error:
            log.warning("container %s: reconcile: %s", row["id"][:12], error.message)
    try:
        await runner.networks.reconcile(RECONCILE)
    except BerthError as error:
        log.warning("network reconcile: %s", error.message)
    await sweep(runner, {row["id"] for row in rows})
    for partial in await runner.images.discard_partial():
        log.warning("removed what a crash left of a pull: %s", partial)
    if runner.daemon:
        await runner.images.collect_garbage()  # layers and blobs of a pull cut short
        for row in rows:
            if row["state"] in ("exited", "created"):
                runner.background(lambda cid: start_on_boot(runner, cid), row["id"])


async def reconcile_container(runner: Runner, container_id: str) -> None:
    async with runner.locks.hold(container_id):
        container = await runner.load(container_id)
        follow_up = await _reconcile_held(runner, container)
    if follow_up:
        # Auto-remove and the restart policy, in the background: a back-off must not hold
        # up the reconcile of the other containers.
        runner.background(runner.exits.follow_up, container_id)


async def _reconcile_held(runner: Runner, container: Container) -> bool:
    """One container, its lock held; answers whether an exit awaits its follow-up."""
    container_id, state = container.id, container.state
    if state is S.REMOVING:
        await runner.remove_everything(container_id, RECONCILE)
        return False
    if state in STOPPED or state is S.RESTARTING:
        await _leave_nothing_running(runner, container_id, container.endpoint is not None)
        if state is S.RESTARTING and runner.daemon:
            runner.background(runner.exits.restart_when_due, container_id)
        # An exit recorded just before a crash may not have been acted on yet.
        return state is S.EXITED and _wants_follow_up(runner, container)
    runc = await runner.runtime.state(container_id)
    alive = runc is not None and runc.status in ("running", "paused")
    status = runner.runtime.exit_status(container_id)
    if state is S.STARTING:
        if runc is not None and alive and status is None:
            pid = runc.pid
            await runner.record(
                container_id, lambda c, k: c.mark_started(pid, datetime.now(UTC), k), RECONCILE
            )
            runner.exits.watch(container_id)
            return False
        # The start was cut short: undo what it did, and carry out the intent the log
        # holds (its outcome, Started or StartFailed, is recorded as usual).
        await _leave_nothing_running(runner, container_id, True)
        with contextlib.suppress(BerthError):
            await runner.carry_out_start(container_id, RECONCILE)
        return False
    if runc is not None and alive and status is None:
        await _correct_pause(runner, container_id, state, runc.status)
        runner.exits.watch(container_id)
        if state is S.STOPPING:
            runner.background(runner.carry_out_stop, container_id)
        return False
    if status is None and runner.runtime.monitor_pid(container_id) is not None:
        runner.exits.watch(container_id)  # exited an instant ago: the monitor is writing
        return False
    return await runner.exits.record_if_live(container_id, status, RECONCILE, NO_STATUS)


def _wants_follow_up(runner: Runner, container: Container) -> bool:
    """Whether an exited container still has its exit's follow-up ahead of it."""
    if container.host_config.get("AutoRemove") or container.restart_after_exit:
        return True
    return runner.daemon and restart_delay_ms(container) is not None


async def _leave_nothing_running(runner: Runner, container_id: str, networked: bool) -> None:
    """No runc container, monitor or network for a container that should have none."""
    runtime = runner.runtime
    if (runtime.runc_root / container_id).exists() or runtime.monitor_dir(container_id).exists():
        await runtime.delete(container_id, force=True)
    if networked:
        await runner.disconnect(container_id, RECONCILE)


async def _correct_pause(runner: Runner, container_id: str, state: S, runc_status: str) -> None:
    """The freezer is the truth about pause (moby#25870): record what it says."""
    if state is S.RUNNING and runc_status == "paused":
        await runner.record(container_id, lambda c, k: c.pause(k), RECONCILE)
    elif state is S.PAUSED and runc_status == "running":
        await runner.record(container_id, lambda c, k: c.unpause(k), RECONCILE)


async def start_on_boot(runner: Runner, container_id: str) -> None:
    """dockerd starts `always` containers at boot, `unless-stopped` ones unless stopped."""
    async with runner.locks.hold(container_id):
        container = await runner.load(container_id)
        if container.state not in (S.EXITED, S.CREATED) or not starts_on_boot(container):
            return
        await runner.sync(runner.engine.start, container_id, RESTART_POLICY)
        await runner.carry_out_start(container_id, RESTART_POLICY)


# Sweeping what belongs to no container ------------------------------------------------------


async def sweep(runner: Runner, listed: set[str]) -> None:
    """Remove what belongs to no listed (not removed) container of this root."""
    runtime = runner.runtime
    known = set(listed)
    found: set[str] = set()
    for directory in (runtime.runc_root, runtime.monitor_root, runner.containers_dir):
        found |= {p.name for p in _children(directory) if is_container_id(p.name)}
    found |= {c for c in runner.images.snapshots.containers() if is_container_id(c)}
    for container_id in sorted(found - known):
        log.warning("removing leftovers of container %s", container_id[:12])
        await runtime.delete(container_id, force=True)
        await runner.images.unmount_rootfs(container_id)
        await runner.sync(shutil.rmtree, runner.container_dir(container_id), True)
    await _sweep_cgroups(runner)


async def _sweep_cgroups(runner: Runner) -> None:
    """Kill what is left in the cgroups of this root's containers that should run nothing.

    The cgroup parent is shared by every engine on the host, so only cgroups named after
    a container of this root's log are touched, each under its container's lock.
    """
    parents = {HostFacts().cgroup_parent, runner.runtime.monitor_cgroup_parent or ""} - {""}
    for parent in sorted(parents):
        for relative in await runner.sync(cgroups.children, parent):
            name = relative.rsplit("/", 1)[-1]
            container_id = name.removeprefix("conmon-")
            if not is_container_id(container_id):
                continue
            async with runner.locks.hold(container_id):
                container = await runner.sync(runner.engine.find_aggregate, container_id)
                if not isinstance(container, Container):
                    continue  # another engine's container
                if container.pid or container.state is S.STARTING:
                    continue  # it runs, or is about to
                if name.startswith("conmon-") and runner.runtime.monitor_pid(container_id):
                    continue  # a monitor still writing an exit (its watcher records it)
                killed = await runner.sync(cgroups.kill_all, relative)
                if killed:
                    log.warning("killed %d leftover process(es) in cgroup %s", killed, relative)
                await runner.sync(cgroups.remove_everywhere, relative)


def _children(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []
