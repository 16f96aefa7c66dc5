"""What `docker inspect` shows of a container's files on the host: its log, the /etc files
the engine binds over its own, its overlay directories. They depend on the root the
engine runs on, not on the log, so they are added to the view's document when asked.
Blocking (it looks at the disk): call it from a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from berth.adapters.snapshots.protocol import LayerDirectories
from berth.domain.errors import BerthError

from .images import ImageService
from .network_files import FILES


def with_host_paths(
    doc: dict[str, Any], log_path: Callable[[str], Path], images: ImageService
) -> dict[str, Any]:
    """`doc` with dockerd's LogPath (but for the `none` driver), the *Path of the engine's
    files that exist, and GraphDriver.Data (LowerDir top first, as overlay2's)."""
    container_id = doc["Id"]
    shown = dict(doc)
    log = log_path(container_id)
    if ((doc.get("HostConfig") or {}).get("LogConfig") or {}).get("Type") != "none":
        shown["LogPath"] = str(log)
    for key, name in FILES.items():
        if not shown.get(key) and (log.parent / name).is_file():
            shown[key] = str(log.parent / name)
    store = images.snapshots
    try:
        chain = images.image_chain(doc["Image"])
    except BerthError:  # an image gone from under its container: no layers to name
        return shown
    if isinstance(store, LayerDirectories):
        shown["GraphDriver"] = {
            "Data": {
                "LowerDir": ":".join(str(store.layer_dir(c)) for c in reversed(chain)),
                "MergedDir": str(store.rootfs(container_id)),
                "UpperDir": str(store.upper_dir(container_id)),
                "WorkDir": str(store.work_dir(container_id)),
            },
            "Name": "overlay2",
        }
    return shown
