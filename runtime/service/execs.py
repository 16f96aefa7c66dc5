"""Exec instances: `docker exec`'s create, start, resize and inspect (ADR/0034).

An exec is its own aggregate (domain/exec.py). `create` records it; `start` records the
intent, runs the process under a monitor of its own (adapters/runc/exec.py) and records
`Started(pid)` or `StartFailed`; a watcher records `Exited(code)` from the monitor's exit
file and then removes the monitor's files. An engine that starts finds the execs the log
has in flight and records the exits their monitors kept meanwhile (`reconcile`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import trio

from berth.adapters.capabilities import bounding_capabilities
from berth.adapters.runc import MonitorLost, StartFailure
from berth.adapters.runc.exec import ExecMonitors, ExecProcess
from berth.adapters.snapshots.rootfs import read_in_root
from berth.domain.aggregate import StrIdAggregate
from berth.domain.cause import Actor, ActorKind
from berth.domain.container import Container, ContainerState, container_id_from_entropy
from berth.domain.errors import BerthError, NotFound, NotModified
from berth.domain.exec import Exec, ExecSettings, check_can_exec, exec_env, no_such_exec
from berth.domain.settings_rules import CAPABILITIES
from berth.domain.spec import resolve_user
from berth.domain.spec.exec_process import exec_process

from ..store.unit_of_work import unit_of_work
from .actions import CHANGE_WAIT_S, ContainerActions

log = logging.getLogger(__name__)
ENGINE = Actor(ActorKind.ENGINE)
RECONCILE = Actor(ActorKind.RECONCILE)
#: The exit code recorded when an exec's monitor is gone without having written one.
EXIT_CODE_UNKNOWN = -1
#: How long a resize waits for the exec's process to start (dockerd's 1 s).
RESIZE_WAIT_S = 1.0


def _new_exec_id() -> str:
    while True:
        with contextlib.suppress(ValueError):  # all digits: drawn again, as Docker does
            return container_id_from_entropy(os.urandom(32))


def _size(console_size: list[int] | None) -> tuple[int, int] | None:
    return (console_size[0], console_size[1]) if console_size else None


def start_failure_message(runtime_message: str) -> str:
    """What dockerd 20.10 says when containerd could not start an exec's process."""
    return f"OCI runtime exec failed: {runtime_message}: unknown"


@dataclass
class StartedExec:
    """An attached exec that runs: its stdio socket and a wait for its recorded exit."""

    exec: Exec
    process: ExecProcess
    wait_recorded: Callable[[], Any]


class ExecService:
    def __init__(
        self,
        actions: ContainerActions,
        monitors_of: Callable[[str], ExecMonitors] | None,
    ) -> None:
        self.actions = actions
        self.engine = actions.engine
        self.monitors_of = monitors_of
        self.nursery: trio.Nursery | None = None
        self._watched: set[str] = set()

    # Records -------------------------------------------------------------------------------

    def _save(self, *aggregates: StrIdAggregate) -> int:
        # The exec view is caught up by the queries that read it (bench/exec.py: a
        # projection per save was a fifth of an exec's time).
        return self.engine.save(*aggregates)

    def _load_exec(self, exec_id: str) -> Exec:
        """The instance, or dockerd's 404 (also once its container is removed)."""
        found = self.engine.find_aggregate(exec_id) if exec_id else None
        if not isinstance(found, Exec):
            raise no_such_exec(exec_id)
        container = self.engine.find_aggregate(found.container_id)
        if not isinstance(container, Container) or container.state is ContainerState.REMOVED:
            raise no_such_exec(exec_id)
        return found

    def _create(self, ref: str, settings: ExecSettings, actor: Actor) -> str:
        container_id = self.engine.resolve_container(ref)
        exec_id = _new_exec_id()
        cause = self.engine.cause(actor)

        def decide() -> list[StrIdAggregate]:
            container: Container = self.engine.get_aggregate(container_id)
            check_can_exec(container.state, container_id, ref)
            config = container.config
            user, cwd = config.get("User") or "", config.get("WorkingDir") or ""
            return [Exec.create(exec_id, container_id, settings, user, cwd, cause)]

        unit_of_work(decide, self._save, f"exec in {container_id}")
        return exec_id

    def _request_start(self, exec_id: str, detach: bool, actor: Actor) -> Exec:
        cause = self.engine.cause(actor)

        def decide() -> list[StrIdAggregate]:
            exec_ = self._load_exec(exec_id)
            container: Container = self.engine.get_aggregate(exec_.container_id)
            check_can_exec(container.state, container.id, container.id)
            exec_.request_start(detach, cause)
            return [exec_]

        unit_of_work(decide, self._save, f"exec {exec_id}")
        return self._load_exec(exec_id)

    def _record(self, exec_id: str, outcome: Callable[[Exec], None]) -> bool:
        """Record an outcome; False if there was nothing to record."""
        found = self.engine.find_aggregate(exec_id)
        if not isinstance(found, Exec):
            return False
        try:
            outcome(found)
        except NotModified:
            return False
        self._save(found)
        return True

    # Verbs ---------------------------------------------------------------------------------

    async def create(self, ref: str, body: Any, actor: Actor) -> str:
        """`POST /containers/{id}/exec`: checked before anything is recorded."""
        settings = ExecSettings.from_docker(body)
        exec_id: str = await self.actions.sync(self._create, ref, settings, actor)
        return exec_id

    async def inspect(self, exec_id: str) -> dict[str, Any]:
        exec_: Exec = await self.actions.sync(self._load_exec, exec_id)
        return exec_.inspect()

    async def exec_ids(self, container_id: str) -> list[str]:
        """`ExecIDs` of a container: its execs not yet ended."""
        ids: list[str] = await self.actions.sync(self._exec_ids, container_id)
        return ids

    def _exec_ids(self, container_id: str) -> list[str]:
        self.engine.catch_up()
        return self.engine.views.exec_ids(container_id)

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        """As dockerd: an exec whose process is not yet started is waited for (a client
        resizes right after its start), for at most RESIZE_WAIT_S."""
        with trio.move_on_after(RESIZE_WAIT_S):
            while True:
                exec_: Exec = await self.actions.sync(self._load_exec, exec_id)
                if exec_.exit_code is not None:
                    return
                if exec_.running:
                    if self.monitors_of is not None:
                        monitors = self.monitors_of(exec_.container_id)
                        await monitors.resize(exec_id, height, width)
                    return
                await self.actions.changes.wait(CHANGE_WAIT_S)
        raise BerthError("timeout waiting for exec session ready")

    async def request_start(self, exec_id: str, detach: bool, actor: Actor) -> Exec:
        """The start's intent, or dockerd's 404/409 (before an attached start hijacks
        the connection)."""
        exec_: Exec = await self.actions.sync(self._request_start, exec_id, detach, actor)
        return exec_

    async def start(self, exec_: Exec, detach: bool, actor: Actor) -> StartedExec | None:
        """Run the exec whose start was requested: None once a detached one runs, else
        its stdio to copy. A process that cannot start is StartFailure with dockerd's
        text (exit code 126). Not cut short by a client that goes: the outcome is
        recorded."""
        with trio.CancelScope(shield=True):
            started = await self._start(exec_, detach, actor)
        return started

    async def _start(self, exec_: Exec, detach: bool, actor: Actor) -> StartedExec | None:
        exec_id = exec_.id
        if self.monitors_of is None:
            await self._fail(exec_id, "this runtime runs no execs")
        monitors = self.monitors_of(exec_.container_id)
        try:
            process = await self.actions.sync(self._process, exec_)
            started = await monitors.start(
                exec_id,
                process,
                stdin=exec_.open_stdin and not detach,
                attach=not detach,
                console_size=_size(exec_.console_size),
            )
        except StartFailure as error:  # the runtime's own words, as containerd passes them
            await self._fail(exec_id, start_failure_message(error.message))
        except BerthError as error:  # e.g. a user the container does not know
            await self._fail(exec_id, error.message)
        cause = self.engine.cause(actor)
        await self.actions.sync(self._record, exec_id, lambda e: e.mark_started(started.pid, cause))
        self.watch(exec_id, exec_.container_id)
        if detach:
            if started.attach is not None:
                await started.attach.aclose()
            return None
        return StartedExec(exec_, started, lambda: self.wait_recorded_exit(exec_id))

    async def _fail(self, exec_id: str, text: str) -> NoReturn:
        """Record that the exec could not start (exit code 126) and raise it."""
        cause = self.engine.cause(ENGINE)
        await self.actions.sync(self._record, exec_id, lambda e: e.mark_start_failed(text, cause))
        raise StartFailure(text)

    def _process(self, exec_: Exec) -> dict[str, Any]:
        """The OCI process (a worker thread: it reads the container's bundle and its
        /etc/passwd and /etc/group, which the container controls)."""
        container: Container = self.engine.get_aggregate(exec_.container_id)
        bundle = self.actions.container_dir(container.id) / "bundle" / "config.json"
        spec = json.loads(bundle.read_text())
        rootfs = Path(container.rootfs)
        user = resolve_user(
            exec_.user,
            read_in_root(rootfs, "etc/passwd"),
            read_in_root(rootfs, "etc/group"),
            tuple(container.host_config.get("GroupAdd") or ()),
        )
        held = bounding_capabilities()
        return exec_process(
            spec["process"],
            [exec_.entrypoint, *exec_.arguments],
            exec_env(spec["process"].get("env") or [], exec_.env, exec_.tty),
            exec_.working_dir,
            user,
            tty=exec_.tty,
            privileged=exec_.privileged,
            all_capabilities=sorted(CAPABILITIES if held is None else CAPABILITIES & held),
            console_size=exec_.console_size,
        )

    async def detached(self, exec_id: str, actor: Actor) -> None:
        """The client typed the detach keys (dockerd's `exec_detach`)."""
        cause = self.engine.cause(actor)
        await self.actions.sync(self._record, exec_id, lambda e: e.mark_detached(cause))

    async def wait_recorded_exit(self, exec_id: str) -> None:
        while True:
            found = await self.actions.sync(self.engine.find_aggregate, exec_id)
            if not isinstance(found, Exec) or found.exit_code is not None:
                return
            await self.actions.changes.wait(CHANGE_WAIT_S)

    # Exits -----------------------------------------------------------------------------------

    def watch(self, exec_id: str, container_id: str) -> None:
        """Record the exec's exit when its monitor reports it (once per exec)."""
        if exec_id in self._watched or self.nursery is None:
            return
        self._watched.add(exec_id)
        self.nursery.start_soon(self._watch, exec_id, container_id)

    async def _watch(self, exec_id: str, container_id: str) -> None:
        assert self.monitors_of is not None
        monitors = self.monitors_of(container_id)
        try:
            try:
                code = (await monitors.wait_exited(exec_id)).exit_code
            except (MonitorLost, NotFound):
                code = EXIT_CODE_UNKNOWN
            await self.actions.sync(self._record_exit, exec_id, code, ENGINE)
            await monitors.remove_files(exec_id)
        except BerthError as error:
            log.warning("exec %s: %s", exec_id[:12], error.message)
        finally:
            self._watched.discard(exec_id)

    def _record_exit(self, exec_id: str, code: int, actor: Actor) -> None:
        cause = self.engine.cause(actor)
        self._record(exec_id, lambda e: e.mark_exited(code, cause))

    async def reconcile(self) -> None:
        """The execs the log has in flight: an exit their monitor kept is recorded, a
        running one is watched, one that never started (or whose monitor is gone without
        a word) ends."""
        rows = await self.actions.sync(self._in_flight)
        for row in rows:
            exec_id, container_id = row["id"], row["container_id"]
            exec_: Exec = await self.actions.sync(self.engine.get_aggregate, exec_id)
            monitors = self.monitors_of(container_id) if self.monitors_of else None
            status = monitors.exit_status(exec_id) if monitors else None
            if status is not None:
                await self.actions.sync(self._record_exit, exec_id, status.exit_code, RECONCILE)
            elif monitors is not None and monitors.pid(exec_id) is not None:
                self.watch(exec_id, container_id)
                continue
            elif not exec_.running:
                cause = self.engine.cause(RECONCILE)
                text = start_failure_message("the engine stopped before the exec started")
                await self.actions.sync(
                    self._record, exec_id, lambda e, t=text, k=cause: e.mark_start_failed(t, k)
                )
            else:
                await self.actions.sync(self._record_exit, exec_id, EXIT_CODE_UNKNOWN, RECONCILE)
            if monitors is not None:
                await monitors.remove_files(exec_id)

    def _in_flight(self) -> list[dict[str, Any]]:
        self.engine.catch_up()
        return self.engine.views.exec_rows_in_flight()
