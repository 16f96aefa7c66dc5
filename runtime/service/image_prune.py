"""`docker image prune` (`POST /images/prune`): the images no container was created from,
only the untagged ones unless `dangling=false`, as dockerd 20.10 answers it."""

from __future__ import annotations

import contextlib
from typing import Any

import trio

from berth.domain.cause import Actor
from berth.domain.errors import Conflict, NotFound

from ..views.prune_filters import PruneFilters
from ..views.timefmt import parse_docker_time
from .images import ImageService

PRUNE_FILTERS = ("dangling", "until", "label", "label!")


async def prune_images(images: ImageService, spared: PruneFilters, actor: Actor) -> dict[str, Any]:
    """Each pruned image untagged name by name (the last name deletes it), as dockerd's
    prune does; then the layers and blobs no image needs any more are deleted."""
    records = images.engine.images

    def candidates() -> list[dict[str, Any]]:
        used = {row["doc"]["Image"] for row in images.engine.views.container_rows()}
        found = []
        for row in records.live_rows():
            if row["id"] in used or (spared.dangling_only and row["tags"]):
                continue
            created = parse_docker_time(row["created"]) if row["created"] else None
            labels = (row["config"].get("config") or {}).get("Labels") or {}
            if not spared.spares(created, labels):
                found.append(row)
        return found

    deleted: list[dict[str, str]] = []
    for row in await trio.to_thread.run_sync(candidates):
        names = [*row["tags"], *row["repo_digests"]] or [row["id"]]
        for name in names:
            with contextlib.suppress(NotFound, Conflict):  # used or removed meanwhile
                deleted += await trio.to_thread.run_sync(records.remove, name, actor)
    collected = await images.collect_garbage()
    return {"ImagesDeleted": deleted or None, "SpaceReclaimed": collected.layer_bytes}
