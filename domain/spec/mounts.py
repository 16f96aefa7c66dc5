"""The OCI `mounts` of a container's own mount points, as moby's WithMounts writes them.

A bind or volume is a bind mount (`rbind`, or `bind` when non-recursive; `ro` when not
writable; its propagation when it has one), a tmpfs gets `noexec,nosuid,nodev,rprivate`
merged with its own options (MergeTmpfsOptions: a later option wins over an earlier
one of the same kind). The container's mounts (its mount points, the network's files,
the tmpfs mounts) are sorted by the depth of their destination, so a parent is mounted
before its children, and go after the spec's defaults (/proc, /dev, ...), replacing a
default at the same destination; with a read-only root the remaining defaults other
than /proc and /dev's are read-only too.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidParameter
from ..mounts import MountPoint

TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev", "rprivate")
# mount(8) flags as moby/sys/mount knows them, each with the flag it sets or clears:
# two options of one flag (`exec` and `noexec`) collide, and so do all propagations.
_FLAG_OF = {
    "ro": "rdonly", "rw": "rdonly", "suid": "nosuid", "nosuid": "nosuid",
    "dev": "nodev", "nodev": "nodev", "exec": "noexec", "noexec": "noexec",
    "sync": "sync", "async": "sync", "dirsync": "dirsync", "remount": "remount",
    "mand": "mand", "nomand": "mand", "atime": "noatime", "noatime": "noatime",
    "diratime": "nodiratime", "nodiratime": "nodiratime", "bind": "bind", "rbind": "rbind",
    "relatime": "relatime", "norelatime": "relatime",
    "strictatime": "strictatime", "nostrictatime": "strictatime",
    **{p: "propagation" for p in (
        "unbindable", "runbindable", "private", "rprivate", "shared", "rshared",
        "slave", "rslave",
    )},
}  # fmt: skip
_TMPFS_DATA = frozenset({"", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})
# The spec's defaults that stay writable under a read-only root (moby's list).
_WRITABLE_UNDER_RO_ROOT = frozenset({"/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"})


def _go_string_slice(parts: Sequence[str]) -> str:
    return "[" + " ".join(json.dumps(p) for p in parts) + "]"


def merge_tmpfs_options(options: Sequence[str]) -> list[str]:
    """moby/sys/mount `MergeTmpfsOptions`, its error message included."""
    merged: list[str] = []
    seen: set[str] = set()
    for option in reversed(options):
        if option == "defaults":
            continue
        key = _FLAG_OF.get(option)
        if key is None:
            parts = option.split("=", 1)
            if len(parts) != 2 or parts[0] not in _TMPFS_DATA:
                raise InvalidParameter(f"Invalid tmpfs option {_go_string_slice(parts)}")
            key = "=" + parts[0]
        if key not in seen:
            merged.insert(0, option)
            seen.add(key)
    return merged


def tmpfs_mount(destination: str, data: str) -> dict[str, Any]:
    options = [*TMPFS_DEFAULTS, *(data.split(",") if data else ())]
    return {
        "destination": destination,
        "type": "tmpfs",
        "source": "tmpfs",
        "options": merge_tmpfs_options(options),
    }


def _bind_mount(point: MountPoint) -> dict[str, Any]:
    options = ["bind" if point.non_recursive else "rbind"]
    if not point.rw:
        options.append("ro")
    if point.propagation:
        options.append(point.propagation)
    return {
        "destination": point.destination,
        "type": "bind",
        "source": point.source,
        "options": options,
    }


def _depth(mount: Mapping[str, Any]) -> int:
    return posixpath.normpath(re.sub("/+", "/", mount["destination"])).count("/")


def container_mounts(
    points: Sequence[MountPoint],
    tmpfs: Mapping[str, str],
    network_mounts: Sequence[Mapping[str, Any]] = (),
    readonly_rootfs: bool = False,
) -> list[dict[str, Any]]:
    """The container's own OCI mounts, parents first, before their destinations are
    resolved inside the root filesystem.

    A `Tmpfs` destination wins over a mount point there; a mount point at a network
    file's destination (/etc/hosts, ...) replaces the network's file, which is
    read-only under a read-only root.
    """
    own = [_bind_mount(p) for p in points if p.type != "tmpfs" and p.destination not in tmpfs]
    taken = {m["destination"] for m in own}
    for mount in network_mounts:
        if mount["destination"] in taken:
            continue
        network = dict(mount)
        if readonly_rootfs and "ro" not in network["options"]:
            network["options"] = [network["options"][0], "ro", *network["options"][1:]]
        own.append(network)
    own += [tmpfs_mount(dest, data) for dest, data in tmpfs.items()]
    own += [tmpfs_mount(p.destination, p.tmpfs_data) for p in points if p.type == "tmpfs"]
    return sorted(own, key=_depth)


def with_defaults(
    defaults: Sequence[Mapping[str, Any]],
    own: Sequence[Mapping[str, Any]],
    readonly_rootfs: bool,
) -> list[dict[str, Any]]:
    """The spec's default mounts the container's own do not replace, then its own."""
    taken = {m["destination"] for m in own}
    dev_replaced = "/dev" in taken
    kept: list[dict[str, Any]] = []
    for default in defaults:
        destination = default["destination"]
        if destination in taken or (dev_replaced and destination.startswith("/dev/")):
            continue
        mount = dict(default)
        if (
            readonly_rootfs
            and destination not in _WRITABLE_UNDER_RO_ROOT
            and "ro" not in mount["options"]
        ):
            mount["options"] = [*mount["options"], "ro"]
        kept.append(mount)
    return [*kept, *(dict(m) for m in own)]


def rootfs_propagation(own: Sequence[Mapping[str, Any]]) -> str | None:
    """A shared bind needs a shared root, a slave bind a slave one (moby's WithMounts)."""
    options = {o for m in own if m["type"] == "bind" for o in m["options"]}
    if options & {"shared", "rshared"}:
        return "shared"
    if options & {"slave", "rslave"}:
        return "rslave"
    return None
