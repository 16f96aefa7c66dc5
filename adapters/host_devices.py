"""The host's device nodes, which a privileged container gets, as with dockerd.

dockerd gives a `--privileged` container every device node under the host's /dev
(containerd's `oci.HostDevices`, walking /dev and skipping pts, shm, fd, mqueue, the
console and what LXD/udev keep there). The nodes are described here as the OCI spec's
`linux.devices` entries; runc creates them in the container's /dev. A `--device`
mapping is found here the same way, at the path the container asks for.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from berth.domain.config_host import DeviceMapping
from berth.domain.errors import BerthError

DEV = Path("/dev")
SKIPPED_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})


def mapped_devices(mappings: Iterable[DeviceMapping]) -> list[dict[str, Any]]:
    """The container's `--device` mappings found on the host (`mapped_device`)."""
    return [
        found
        for mapping in mappings
        for found in mapped_device(
            mapping.path_on_host, mapping.path_in_container, mapping.cgroup_permissions
        )
    ]


def mapped_device(on_host: str, in_container: str, access: str) -> list[dict[str, Any]]:
    """A `--device` mapping as `linux.devices` entries at their container paths, each with
    its cgroup `access` as asked ("" for the default): the node `on_host` (a link to one
    followed), or every node below it when it is a directory, as moby's
    getDevicesFromPath. Not found, or no device: dockerd's error."""
    try:
        resolved = os.path.realpath(on_host, strict=True)
        info = os.stat(resolved)
    except OSError as error:  # Go's words for an errno are lower case
        raise DeviceError(on_host, (error.strerror or str(error)).lower()) from None
    if stat.S_ISDIR(info.st_mode):
        return [
            {**device, "path": in_container + device["path"][len(resolved) :], "access": access}
            for device in host_devices(Path(resolved))
        ]
    entry = _device(resolved, info)
    if entry is None:
        raise DeviceError(on_host, "not a device node")
    return [{**entry, "path": in_container or on_host, "access": access}]


class DeviceError(BerthError):
    """moby's words for a `--device` it cannot map (its 500)."""

    def __init__(self, on_host: str, why: str) -> None:
        super().__init__(
            f'error gathering device information while adding custom device "{on_host}": {why}'
        )


def _device(path: str, info: os.stat_result) -> dict[str, Any] | None:
    kind = "c" if stat.S_ISCHR(info.st_mode) else "b" if stat.S_ISBLK(info.st_mode) else ""
    if not kind:
        return None
    return {
        "path": path,
        "type": kind,
        "major": os.major(info.st_rdev),
        "minor": os.minor(info.st_rdev),
        "fileMode": stat.S_IMODE(info.st_mode),
        "uid": info.st_uid,
        "gid": info.st_gid,
    }


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
        device = _device(entry.path, info)
        if device is not None:
            found.append(device)
    return found
