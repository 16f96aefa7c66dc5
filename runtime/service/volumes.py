"""The volumes' side of the service: `/volumes` (create, inspect, list, remove, prune) and
the mounts of a container's volumes at its start and exit.

What exists, who references it and who has it mounted is recorded first (volume_records.py);
the driver (adapters/volumes.py) then does what the record says, idempotently, so after a
crash `sweep` finishes what a removal began (a data directory the log has no volume for).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import trio

from berth.adapters.volumes import VolumeDriver
from berth.domain.cause import Actor
from berth.domain.container import Container
from berth.domain.errors import BerthError, Conflict, NotFound
from berth.domain.volume import LOCAL_DRIVER, Volume, VolumeCreateBody, needs_mount, volume_id

from ..views import volumes as view
from .container_mounts import mount_points
from .engine import Engine
from .volume_records import VolumeUse

log = logging.getLogger(__name__)


class VolumeService:
    def __init__(self, engine: Engine, driver: VolumeDriver) -> None:
        self.engine = engine
        self.records = engine.volumes
        self.driver = driver

    async def _sync(self, fn: Any, *args: Any) -> Any:
        return await trio.to_thread.run_sync(fn, *args)

    # The API -------------------------------------------------------------------------------

    def document(self, row: dict[str, Any]) -> dict[str, Any]:
        return view.document(row, str(self.driver.data_path(row["name"])))

    async def create(self, body: Mapping[str, Any], actor: Actor) -> dict[str, Any]:
        """`POST /volumes/create` (`Name`, `Driver`, `DriverOpts`, `Labels`)."""
        asked = VolumeCreateBody.from_docker(body)
        use = VolumeUse(
            name=asked.name or self.records.anonymous_name(),
            options=None if asked.driver_opts is None else dict(asked.driver_opts),
            labels=None if asked.labels is None else dict(asked.labels),
        )
        await self._sync(self.records.create, use, asked.driver, actor)
        row = await self._sync(self.records.row, use.name)
        await self._sync(self.driver.create, use.name)
        return self.document(row)

    async def inspect(self, name: str) -> dict[str, Any]:
        return self.document(await self._sync(self.records.row, name))

    async def list(self, filters: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
        rows = await self._sync(self.records.rows, filters)
        return [self.document(row) for row in rows]

    async def usage(self) -> Sequence[dict[str, Any]]:
        """`system df`'s volumes: each with its size on this disk (-1 for one a driver's
        options mount from elsewhere, as dockerd) and how many containers use it."""

        def sized() -> list[dict[str, Any]]:
            found = []
            for row in self.records.rows({}):
                size = self.driver.size(row["name"]) if _on_this_disk(row) else -1
                usage = {"Size": size, "RefCount": len(row["users"])}
                found.append({**self.document(row), "UsageData": usage})
            return found

        found: Sequence[dict[str, Any]] = await self._sync(sized)
        return found

    async def remove(self, name: str, actor: Actor, force: bool = False) -> None:
        """`volume rm` (409 while referenced); with `force`, a volume that does not exist
        is no error, as dockerd's."""
        try:
            await self._sync(self.records.remove, name, actor)
        except NotFound:
            if force:
                return
            raise
        await self.driver.remove(name)

    async def prune(self, filters: Mapping[str, Sequence[str]], actor: Actor) -> dict[str, Any]:
        """dockerd 20.10's prune: every local volume no container references, but those
        with driver options (their data is not on this disk)."""
        rows = await self._sync(self.records.rows, filters, view.PRUNE_FILTERS)
        deleted: list[str] = []
        reclaimed = 0
        for row in rows:
            if row["users"] or not _on_this_disk(row):
                continue
            size = await self._sync(self.driver.size, row["name"])
            try:
                await self.remove(row["name"], actor)
            except (Conflict, NotFound):
                continue  # referenced or removed meanwhile
            deleted.append(row["name"])
            reclaimed += size
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}

    # A container's start and exit ------------------------------------------------------------

    async def ready_for_start(self, container: Container) -> None:
        """Each of the container's volumes whose options say so mounted by the driver
        (the others' directories are the mount points' sources: `source_for`); the
        container's `Started` records them mounted (`mounted`)."""
        names = dict.fromkeys(p.name for p in mount_points(container) if p.type == "volume")
        if not names:
            return

        def options() -> list[tuple[str, Mapping[str, str]]]:
            rows = [self.records.row(name) for name in names]
            return [(row["name"], row["options"]) for row in rows if needs_mount(row["options"])]

        for name, mounted_with in await self._sync(options):
            await self.driver.mount(name, mounted_with)

    async def unmount(self, name: str, container_id: str, actor: Actor) -> None:
        """A user has exited: recorded (`unmount`); the driver unmounts after the last."""
        try:
            volume = await self._sync(self.records.unmount, name, container_id, actor)
        except NotFound:
            return
        await self.unmount_unused([volume])

    async def unmount_unused(self, volumes: Sequence[Volume]) -> None:
        """The driver's mounts of those `volumes` that no container has mounted any more."""
        for volume in volumes:
            if not volume.mounts and needs_mount(volume.options):
                await self.driver.unmount(volume.name)

    async def unmount_all(self, container_id: str, actor: Actor) -> None:
        for name in await self._sync(self.records.used_by, container_id):
            await self.unmount(name, container_id, actor)

    async def remove_anonymous_data(self, container_id: str) -> None:
        """The data of the anonymous volumes only `container_id` uses, which its removal
        with `rm -v` or `--rm` then records as removed: gone before the container is, so
        that whoever waits for the removal finds nothing left."""
        for name in await self._sync(self.records.removable_with, container_id):
            await self.driver.remove(name)

    async def sweep(self) -> None:
        """After a crash: the data of volumes the log has removed, and mounts of volumes
        nobody has mounted any more."""
        rows = {r["name"]: r for r in await self._sync(self.records.rows, {})}
        for name in self.driver.names():
            with contextlib.suppress(BerthError):
                if name not in rows:
                    log.info("volume %s: removing what a removal left", name)
                    await self.driver.remove(name)
                elif self.driver.is_mounted(name) and not await self._mounted_in_log(name):
                    await self.driver.unmount(name)

    async def _mounted_in_log(self, name: str) -> bool:
        volume = await self._sync(self.engine.find_aggregate, volume_id(name))
        return volume is not None and bool(volume.mounts)


def _on_this_disk(row: Mapping[str, Any]) -> bool:
    """A local volume without driver options keeps its data under berth's root; one with
    options (an NFS share, a device) has it elsewhere."""
    return bool(row["driver"] == LOCAL_DRIVER and not row["options"])
