"""The host's device nodes, which a privileged container gets, as with dockerd.

dockerd gives a `--privileged` container every device node under the host's /dev
(containerd's `oci.HostDevices`, walking /dev and skipping pts, shm, fd, mqueue, the
console and what LXD/udev keep there). The nodes are described here as the OCI spec's
`linux.devices` entries; runc creates them in the container's /dev.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

DEV = Path("/dev")
SKIPPED_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


def host_devices(root: Path = DEV) -> list[dict[str, Any]]:
    """Every character and block device below `root`, by path (a node that goes away
    while it is read is left out)."""
    found: list[dict[str, Any]] = []
    with os.scandir(root) as entries:
        listed = sorted(entries, key=lambda e: e.name)
    for entry in listed:
        if entry.is_dir(follow_symlinks=False):
            if entry.name not in SKIPPED_DIRS:
                found += host_devices(Path(entry.path))
            continue
        if entry.name == "console":
            continue
        try:
            info = os.lstat(entry.path)
        except FileNotFoundError:
            continue
        kind = "c" if stat.S_ISCHR(info.st_mode) else "b" if stat.S_ISBLK(info.st_mode) else ""
        if kind:
            found.append({
                "path": entry.path,
                "type": kind,
                "major": os.major(info.st_rdev),
                "minor": os.minor(info.st_rdev),
                "fileMode": stat.S_IMODE(info.st_mode),
                "uid": info.st_uid,
                "gid": info.st_gid,
            })  # fmt: skip
    return found
