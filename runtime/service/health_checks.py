"""Health probes of the running containers that have a health check (ADR 0036).

One task per running container with a probe: every `interval` it runs the probe in the
container (`ContainerRuntime.probe`, a short `runc exec`), folds the result into the
container's `Health` (domain/health.py) and writes it to `containers/<id>/health.json`
(what inspect shows: FailingStreak and the last five results). A change of status is
recorded in the log (`HealthStatusChanged`: `health_status` events, `ps` and its
`health` filter read it); a probe that changes nothing records nothing.

Which containers are probed follows the log: the supervisor looks again whenever a
container with a health check changes, so probes begin with a start, stop with a stop or
a pause, and resume after berthd restarts (the side file carries the streak and results
of the same run over).
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import trio

from berth.adapters.private_files import write_private
from berth.domain.container import Container, record_health
from berth.domain.errors import BerthError, Conflict, NotFound, NotModified
from berth.domain.health import (
    MAX_OUTPUT_LEN,
    SECOND_NS,
    STARTING,
    Health,
    Probe,
    ProbeResult,
    probe_of,
    timed_out,
)

from ..views.timefmt import docker_time, parse_docker_time
from .actions import ENGINE, ContainerActions
from .changes import Changes, Saved

HEALTH_FILE = "health.json"


class HealthChecks:
    def __init__(self, actions: ContainerActions) -> None:
        self.actions = actions
        self._probing: dict[str, tuple[datetime, trio.CancelScope]] = {}

    # -- what inspect shows ------------------------------------------------------------------

    def shown(self, container_id: str) -> dict[str, Any] | None:
        """`State.Health`'s FailingStreak and Log as the last probe left them (blocking)."""
        saved = self._load(container_id)
        return None if saved is None else _to_docker(saved[1])

    # -- the probes ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the log: probe what runs with a health check, until cancelled."""
        # Woken by the saves of containers with a health check only: a compose project's
        # start saves ~80 times, and each look is a worker thread's query.
        changes = Changes(only=_probed_containers)
        changes.attach()
        listeners = self.actions.engine.saved_listeners
        listeners.append(changes.saved)
        try:
            await self._follow(changes)
        finally:
            listeners.remove(changes.saved)

    async def _follow(self, changes: Changes) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                changed = changes.current()
                wanted = await self.actions.sync(self._wanted)
                for container_id, (started_at, _) in list(self._probing.items()):
                    if wanted.get(container_id, (None,))[0] != started_at:
                        self._probing.pop(container_id)[1].cancel()
                for container_id, (started_at, probe) in wanted.items():
                    if container_id not in self._probing:
                        scope = trio.CancelScope()
                        self._probing[container_id] = (started_at, scope)
                        nursery.start_soon(self._probe_run, container_id, started_at, probe, scope)
                await changed.wait()

    def _wanted(self) -> dict[str, tuple[datetime, Probe]]:
        """The running containers with a probe, and the start of their run."""
        engine = self.actions.engine
        engine.catch_up()
        wanted = {}
        for row in engine.views.running_rows_with_healthcheck():
            probe = probe_of(row["doc"]["Config"])
            started_at = parse_docker_time(row["doc"]["State"]["StartedAt"])
            if probe is not None and started_at is not None:
                wanted[row["id"]] = (started_at, probe)
        return wanted

    async def _probe_run(
        self, container_id: str, started_at: datetime, probe: Probe, scope: trio.CancelScope
    ) -> None:
        with scope:
            saved = await self.actions.sync(self._load, container_id)
            health = Health()
            if saved is not None and saved[0] == started_at:
                health = saved[1]  # berthd restarted during this run
            elif saved is not None:  # dockerd: a new run starts again, keeping the results
                health = Health(STARTING, 0, saved[1].log)
                await self.actions.sync(self._save, container_id, started_at, health)
            while True:
                await trio.sleep(probe.interval / SECOND_NS)
                result = await self._probe(container_id, probe)
                if result is None:
                    return  # it stopped or was paused: the supervisor starts again if due
                after = health.after(result, probe, started_at)
                await self.actions.sync(self._save, container_id, started_at, after)
                if after.status != health.status:
                    await self._record(container_id, after.status, started_at)
                health = after

    async def _probe(self, container_id: str, probe: Probe) -> ProbeResult | None:
        engine = self.actions.engine
        start = engine.now()
        timeout = probe.timeout / SECOND_NS
        try:
            outcome = await self.actions.runtime.probe(
                container_id, probe.command, timeout, MAX_OUTPUT_LEN
            )
        except (Conflict, NotFound):
            return None
        end = engine.now()
        if outcome.exit_code is None:
            return timed_out(start, end, probe.timeout)
        return ProbeResult.of(start, end, outcome.exit_code, outcome.output)

    async def _record(self, container_id: str, status: str, started_at: datetime) -> None:
        def changed(c: Any, k: Any) -> None:
            record_health(c, status, started_at, k)

        with contextlib.suppress(NotModified, NotFound):
            await self.actions.sync(self.actions.engine.record, container_id, changed, ENGINE)

    # -- the side file -------------------------------------------------------------------------

    def _path(self, container_id: str) -> Path:
        return self.actions.container_dir(container_id) / HEALTH_FILE

    def _save(self, container_id: str, started_at: datetime, health: Health) -> None:
        doc = {"StartedAt": docker_time(started_at), **_to_docker(health)}
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile
            write_private(self._path(container_id), json.dumps(doc))

    def _load(self, container_id: str) -> tuple[datetime, Health] | None:
        try:
            doc = json.loads(self._path(container_id).read_text())
            started_at = parse_docker_time(doc["StartedAt"])
            log = tuple(
                ProbeResult(
                    _time(entry["Start"]), _time(entry["End"]), entry["ExitCode"], entry["Output"]
                )
                for entry in doc["Log"]
            )
            health = Health(doc["Status"], doc["FailingStreak"], log)
        except (OSError, ValueError, KeyError, TypeError, BerthError):
            return None
        return (started_at, health) if started_at is not None else None


def _time(text: str) -> datetime:
    moment = parse_docker_time(text)
    if moment is None:
        raise ValueError(text)
    return moment


def _to_docker(health: Health) -> dict[str, Any]:
    return {
        "Status": health.status,
        "FailingStreak": health.failing_streak,
        "Log": [
            {
                "Start": docker_time(r.start),
                "End": docker_time(r.end),
                "ExitCode": r.exit_code,
                "Output": r.output,
            }
            for r in health.log
        ],
    }


def _probed_containers(saved: Saved) -> bool:
    return any(isinstance(a, Container) and a.config.get("Healthcheck") for a in saved)
