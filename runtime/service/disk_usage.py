"""What images, containers and volumes hold on disk, in dockerd 20.10's shapes:
`docker system df` (`GET /system/df`), `docker ps -s` (`SizeRw`, `SizeRootFs`) and
`docker history` (`GET /images/{name}/history`, each layer's unpacked size).

Sizes are read from the disk when asked (a writable layer or a volume walked, a layer's
size as it was committed), never kept in the log: they change without an event.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from berth.adapters.disk_usage import tree_size
from berth.adapters.snapshots.protocol import LayerDirectories
from berth.domain.errors import InvalidParameter, NotFound
from berth.domain.image import layer_chain
from berth.domain.reference import parse_reference

from ..views.images import list_entry
from ..views.timefmt import parse_docker_time
from .images import ImageService

DF_TYPES = ("container", "image", "volume", "build-cache")


def writable_layer_size(images: ImageService, container_id: str) -> int:
    store = images.snapshots
    if not isinstance(store, LayerDirectories):
        return 0  # a store that keeps no layer on disk holds none
    return tree_size(store.upper_dir(container_id))


def with_sizes(
    images: ImageService, entries: list[dict[str, Any]], image_key: str = "ImageID"
) -> list[dict[str, Any]]:
    """`ps --size` (and `inspect --size`, whose image id is `Image`): each entry with its
    writable layer's size and, with its image's, the size of its whole root filesystem."""
    image_sizes = {row["id"]: int(row["size"]) for row in images.engine.views.image_rows()}
    for entry in entries:
        written = writable_layer_size(images, entry["Id"])
        entry["SizeRw"] = written
        entry["SizeRootFs"] = written + image_sizes.get(entry[image_key], 0)
    return entries


def image_history(images: ImageService, ref: str) -> list[dict[str, Any]]:
    """The image config's history, newest first; an entry that made a layer has that
    layer's unpacked size; the newest names the image and its tags, the others are
    `<missing>` (no parent image is kept apart, as for any pulled image in dockerd)."""
    records = images.engine.images
    image_id = records.resolve(ref)
    image = records.aggregate(image_id)
    if image is None:
        raise NotFound(f"No such image: {ref}")
    chains = iter(layer_chain(image.layers))
    items: list[dict[str, Any]] = []
    for step in image.config.get("history") or []:
        chain = None if step.get("empty_layer") else next(chains, None)
        created = parse_docker_time(str(step.get("created") or ""))
        items.append(
            {
                "Id": "<missing>",
                "Created": int(created.timestamp()) if created else 0,
                "CreatedBy": str(step.get("created_by") or ""),
                "Tags": None,
                "Size": images.snapshots.layer_size(chain) if chain else 0,
                "Comment": str(step.get("comment") or ""),
            }
        )
    items.reverse()
    if items:
        tags = [parse_reference(tag).familiar for tag in image.tags]
        items[0].update(Id=image_id, Tags=tags or None)
    return items


def check_df_types(wanted: Collection[str]) -> None:
    for kind in wanted:
        if kind not in DF_TYPES:
            raise InvalidParameter(f"invalid type: {kind}")


def system_df(
    images: ImageService,
    container_listing: bytes,
    volumes: Sequence[dict[str, Any]] | None,
    wanted: Collection[str] = DF_TYPES,
) -> dict[str, Any]:
    """`GET /system/df` (blocking: it walks writable layers): every image with how many
    containers use it and the size it shares with other images, every container with its
    sizes, the volumes as `VolumeService.usage` found them; a kind not `wanted` (API
    1.42's `type`, checked by `check_df_types`) is null."""
    containers = json.loads(container_listing)
    answer: dict[str, Any] = {"LayersSize": 0, "Images": None, "Containers": None}
    answer.update(Volumes=volumes if "volume" in wanted else None, BuildCache=None)
    if "image" in wanted:
        answer.update(_images(images, containers))
    if "container" in wanted:
        answer["Containers"] = with_sizes(images, containers)
    if "build-cache" in wanted:
        answer["BuildCache"] = []  # berth builds nothing
    return answer


def _images(images: ImageService, containers: list[dict[str, Any]]) -> dict[str, Any]:
    users = Counter(entry["ImageID"] for entry in containers)
    rows = images.engine.views.image_rows()
    layers_of = {row["id"]: layer_chain(row["layers"]) for row in rows}
    holders = Counter(chain for chains in layers_of.values() for chain in set(chains))
    size = images.snapshots.layer_size
    entries = []
    for row in rows:
        entry = list_entry(row)
        entry["Containers"] = users[row["id"]]
        entry["SharedSize"] = sum(size(c) for c in set(layers_of[row["id"]]) if holders[c] > 1)
        entries.append(entry)
    on_disk = sum(size(chain) for chain in images.snapshots.layers())
    return {"LayersSize": on_disk, "Images": entries}
