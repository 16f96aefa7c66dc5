"""What a removed container leaves on the host, cleared after the answer (ADR/0041).

Once `Removed` is recorded the container is gone for every client, so its runtime
container (`runc delete` and its monitor's files), its root filesystem mount and its
directory go beside the reactor's work, after `Removed`: a `run --rm` (whose client
waits for the removal) answers before them. An explicit `rm` still answers after them
(`wait_cleared`), so that a client that looks at the host after it finds nothing. A crash
in between leaves them to reconcile's sweep, which clears what belongs to no listed
container with the same steps (`clear`).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import trio

from berth.adapters.runc import ContainerRuntime

from .faults import crash_point
from .images import ImageService

log = logging.getLogger(__name__)


class Leftovers:
    """Clears removed containers' runtime state, mount and directory."""

    def __init__(
        self,
        runtime: ContainerRuntime,
        images: ImageService,
        container_dir: Callable[[str], Path],
    ) -> None:
        self.runtime = runtime
        self.images = images
        self.container_dir = container_dir
        #: Where clearing runs after the answer; None (an engine not serving): at once.
        self.nursery: trio.Nursery | None = None
        self._pending: dict[str, trio.Event] = {}

    async def clear(self, container_id: str) -> None:
        await self.runtime.delete(container_id, force=True)
        crash_point("remove.runtime_deleted")
        await self.images.unmount_rootfs(container_id)
        crash_point("remove.unmounted")
        await trio.to_thread.run_sync(shutil.rmtree, self.container_dir(container_id), True)
        crash_point("remove.files_deleted")

    async def clear_later(self, container_id: str) -> None:
        """`clear` after the caller answers; an engine shutting down finishes it first."""
        if self.nursery is None:
            await self.clear(container_id)
            return
        done = self._pending.setdefault(container_id, trio.Event())
        self.nursery.start_soon(self._clear_shielded, container_id, done)

    async def wait_cleared(self, container_id: str) -> None:
        """Until a `clear_later` of the container has run (at once if none is pending)."""
        pending = self._pending.get(container_id)
        if pending is not None:
            await pending.wait()

    async def _clear_shielded(self, container_id: str, done: trio.Event) -> None:
        with trio.CancelScope(shield=True):
            try:
                await self.clear(container_id)
            except Exception:  # reconcile's sweep clears it at the next start
                log.exception("clearing removed container %s", container_id[:12])
            finally:
                if self._pending.get(container_id) is done:
                    del self._pending[container_id]
                done.set()
