"""`top` and `stats`: what a running container's processes are doing, read from the host.

Neither records anything: the log says whether and where the container runs (its
state, its pid, its cgroup's path), the host (adapters/container_metrics.py) says the
rest. A container that does not run answers as dockerd: `top` with Docker's 409, `stats`
with zeros.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import trio

from berth.adapters.container_metrics import ContainerMetrics
from berth.domain.cause import Actor
from berth.domain.config import HostConfig
from berth.domain.container import LIVE_STATES, Command, Container
from berth.domain.container_stats import Reading, stats_document
from berth.domain.container_top import parse_ps_output, ps_arguments
from berth.domain.errors import Conflict
from berth.domain.spec import HostFacts
from berth.domain.spec.builder import cgroups_path

from ..store.integrity import ReadOnlyLog
from ..views.timefmt import docker_time
from .engine import Engine

#: dockerd's collector reads every container once a second.
STATS_INTERVAL_S = 1.0
#: Network modes in which the container has no interface of its own to count.
NO_OWN_INTERFACES = ("host", "none")


def cgroup_of(container: Container) -> str:
    return cgroups_path(container.id, HostConfig.from_docker(container.host_config), HostFacts())


class ContainerObserver:
    def __init__(self, engine: Engine, metrics: ContainerMetrics) -> None:
        self.engine = engine
        self.metrics = metrics

    async def _load(self, ref: str) -> Container:
        def load() -> Container:
            container: Container = self.engine.get_aggregate(self.engine.resolve_container(ref))
            return container

        return await trio.to_thread.run_sync(load)

    async def top(self, ref: str, ps_args: str | None, actor: Actor) -> dict[str, Any]:
        """dockerd's `ContainerTop`: `ps` on the host, the container's rows; then its
        `top` event (`ProcessesListed`), unless the log is read-only."""
        arguments = ps_arguments(ps_args)
        container = await self._load(ref)
        container.check(Command.TOP, ref)  # a container that does not run: Docker's 409

        def run() -> dict[str, Any]:
            pids = self.metrics.pids(cgroup_of(container))
            listed = parse_ps_output(self.metrics.ps(arguments), set(pids))
            # Exited meanwhile (Conflict): listed all the same, without its event.
            with contextlib.suppress(ReadOnlyLog, Conflict):
                self.engine.top(container.id, actor)
            return listed

        return await trio.to_thread.run_sync(run)

    def _reading(self, container: Container) -> Reading | None:
        if container.state not in LIVE_STATES or not container.pid:
            return None
        sample = self.metrics.sample(cgroup_of(container))
        if sample is None:
            return None
        mode = str(container.host_config.get("NetworkMode") or "")
        own = mode not in NO_OWN_INTERFACES and not mode.startswith("container:")
        networks = self.metrics.interfaces(container.pid) if own else {}
        return Reading(self.engine.now(), sample, self.metrics.host(), networks)

    async def stats(
        self, ref: str, *, stream: bool, one_shot: bool
    ) -> AsyncGenerator[dict[str, Any]]:
        """dockerd's stats: a document a second while `stream`; else one, after a second
        reading so that `precpu_stats` is filled, or at once with `one_shot`."""
        container_id = (await self._load(ref)).id
        previous: Reading | None = None
        while True:
            container = await self._load(container_id)
            reading = await trio.to_thread.run_sync(self._reading, container)
            waits_for_precpu = not stream and not one_shot and previous is None
            if reading is not None and waits_for_precpu:
                previous = reading
                await trio.sleep(STATS_INTERVAL_S)
                continue
            yield stats_document(container.name, container.id, reading, previous, docker_time)
            if not stream:
                return
            previous = reading
            await trio.sleep(STATS_INTERVAL_S)
