"""A `MountPoints` that resolves targets in Python, one component at a time, instead of
asking the kernel (openat2): links are read and followed with the root as `/`, `..`
stops at the root. Host sources are the host's, as for the real adapter."""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

from berth.adapters.mountpoints import HostMountPoints, MountTargetError, copy_found_directory

MAX_LINKS = 40  # as the kernel's ELOOP limit
_LINK_END = "/"  # marks where a link's target ends in the components still to walk


class FakeMountPoints:
    def __init__(self) -> None:
        self._host = HostMountPoints()
        self.prepared: list[tuple[Path, str]] = []

    def source_exists(self, source: str) -> bool:
        return self._host.source_exists(source)

    def ensure_source(self, source: str, create: bool) -> bool:
        return self._host.ensure_source(source, create)

    def check_propagation(self, source: str, propagation: str) -> None:
        self._host.check_propagation(source, propagation)

    def prepare_target(self, rootfs: Path, destination: str, directory: bool) -> str:
        self.prepared.append((rootfs, destination))
        return self._resolve(rootfs, destination, create=True, directory=directory) or "/"

    def copy_directory(self, rootfs: Path, destination: str, target: Path) -> bool:
        return copy_found_directory(rootfs, self.find_target(rootfs, destination), target)

    def find_target(self, rootfs: Path, destination: str) -> str | None:
        return self._resolve(rootfs, destination, create=False, directory=True)

    def _resolve(
        self, rootfs: Path, destination: str, *, create: bool, directory: bool
    ) -> str | None:
        pending = [p for p in destination.split("/") if p not in ("", ".")]
        if ".." in pending:
            raise MountTargetError(f"invalid mount target {destination!r}: contains '..'")
        done: list[str] = []
        links = 0
        while pending:
            part = pending.pop(0)
            if part == _LINK_END:
                continue
            if part == "..":
                done = done[:-1]
                continue
            host = rootfs.joinpath(*done, part)
            try:
                mode = os.lstat(host).st_mode
            except FileNotFoundError:
                if not create:
                    return None
                if _LINK_END in pending:  # a link to nothing: not made, as the real one
                    raise MountTargetError(
                        f"cannot create mount point {destination}: No such file or directory"
                    ) from None
                if pending or directory:
                    host.mkdir(mode=0o755)
                else:
                    host.touch(mode=0o755)
                done.append(part)
                continue
            if stat.S_ISLNK(mode):
                links += 1
                if links > MAX_LINKS:
                    raise MountTargetError(
                        f"cannot create mount point {destination}: too many links"
                    )
                target = os.readlink(host)
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p not in ("", ".")]
                pending = [*parts, _LINK_END, *pending]
                continue
            if pending and not stat.S_ISDIR(mode):
                if not create:
                    return None
                raise MountTargetError(f"cannot create mount point {destination}: Not a directory")
            done.append(part)
        return posixpath.join("/", *done)
