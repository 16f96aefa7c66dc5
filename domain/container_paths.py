"""Which of a container's mount points a path in the container falls under. Pure.

`docker cp` reaches a path under a bind or a volume at the mount's source on the host,
not in the root filesystem below it (which the mount hides from the container)."""

from __future__ import annotations

from collections.abc import Sequence

from .mounts import MountPoint


def clean_parts(path: str) -> list[str]:
    """The components of a path in the container, cleaned lexically as dockerd's
    filepath.Join("/", path) does: `..` never climbs above the root."""
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return parts


def mount_for(points: Sequence[MountPoint], path: str) -> tuple[MountPoint, str] | None:
    """The mount point whose destination holds `path` (the deepest one), and the rest of
    the path below that destination ("" for the destination itself); None for a path of
    the root filesystem."""
    parts = clean_parts(path)
    found: tuple[MountPoint, str] | None = None
    depth = -1
    for point in points:
        destination = clean_parts(point.destination)
        if len(destination) > depth and parts[: len(destination)] == destination:
            found, depth = (point, "/".join(parts[len(destination) :])), len(destination)
    return found
