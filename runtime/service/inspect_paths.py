"""What `docker inspect` shows of a container's files on the host: its log, the /etc files
the engine binds over its own, its overlay directories. They depend on the root the
engine runs on, not on the log, so they are added to the view's document when asked.
Blocking (it looks at the disk): call it from a worker thread."""

from __future__ import annotations

from typing import Any

from berth.adapters.snapshots.protocol import LayerDirectories
from berth.domain.config import HostConfig
from berth.domain.errors import BerthError
from berth.domain.log_config import log_policy

from .actions import ContainerActions
from .images import ImageService
from .network_files import FILES


def with_host_paths(
    doc: dict[str, Any], actions: ContainerActions, images: ImageService
) -> dict[str, Any]:
    """`doc` with dockerd's LogPath (where the driver keeps a log), the *Path of the engine's
    files that exist, and GraphDriver.Data (LowerDir top first, as overlay2's)."""
    container_id = doc["Id"]
    shown = dict(doc)
    if log_policy(HostConfig.from_docker(doc["HostConfig"]).log_config).kept:
        shown["LogPath"] = str(actions.log_path(container_id))
    home = actions.container_dir(container_id)
    for key, name in FILES.items():
        if not shown.get(key) and (home / name).is_file():
            shown[key] = str(home / name)
    store = images.snapshots
    if not isinstance(store, LayerDirectories):
        return shown
    try:
        chain = images.image_chain(doc["Image"])
    except BerthError:  # an image gone from under its container: no layers to name
        return shown
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
