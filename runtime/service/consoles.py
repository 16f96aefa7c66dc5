"""Reaching a container's stdio (attach) and its terminal's size (resize).

The monitor holds both (adapters/runc/attach.py), so they work the same after the engine
restarted. An attach to a container that is not running yet connects when its process
is next created, before it starts (start_gate.py), so it sees all the output.
"""

from __future__ import annotations

from pathlib import Path

import trio

from berth.adapters.runc import ConmonStdio, ContainerStdio, StdioStream
from berth.domain.container import Container, ContainerState
from berth.domain.errors import Conflict

from .engine import Engine
from .start_gate import StartGate

S = ContainerState
#: How often a waiting attach looks whether its container started or ended meanwhile.
POLL_S = 0.05
ENDED = (S.EXITED, S.DEAD, S.REMOVING, S.REMOVED)


class Consoles:
    def __init__(
        self,
        engine: Engine,
        containers_dir: Path,
        gate: StartGate,
        stdio: ContainerStdio | None = None,
    ) -> None:
        self.engine = engine
        self.containers_dir = containers_dir
        self.gate = gate
        self.stdio = stdio or ConmonStdio()

    def bundle(self, container_id: str) -> Path:
        return self.containers_dir / container_id / "bundle"

    async def _find(self, container_id: str) -> Container | None:
        found: Container | None = await trio.to_thread.run_sync(
            self.engine.find_aggregate, container_id
        )
        return found

    async def connect(self, container_id: str) -> StdioStream | None:
        """The running process's stdio, or the next one's once it is created; None if the
        container ends or goes first."""
        async with self.gate.waiting(container_id) as waiter:
            first = await self._find(container_id)
            if first is None:
                return None
            if first.state is not S.RUNNING and not await self._created(
                container_id, first, waiter.created
            ):
                return None
            try:
                return await self.stdio.connect(self.bundle(container_id))
            except Conflict:
                return None  # it ended meanwhile

    async def _created(self, container_id: str, first: Container, created: trio.Event) -> bool:
        while not created.is_set():
            with trio.move_on_after(POLL_S):
                await created.wait()
                return True
            now = await self._find(container_id)
            if now is None or (
                now.state in ENDED and (first.state not in ENDED or now.version > first.version)
            ):
                return False
            if now.state is S.RUNNING:
                return True  # started before this attach was in the gate
        return True

    async def resize(self, container_id: str, height: int, width: int) -> None:
        """dockerd's 409 when the container does not run."""
        container = await self._find(container_id)
        if container is None or container.state not in (S.RUNNING, S.PAUSED):
            raise Conflict(f"Container {container_id} is not running")
        await self.stdio.resize(self.bundle(container_id), height, width)
