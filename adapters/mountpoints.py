"""Where a container's mounts land: host sources and targets inside its root filesystem.

A target is resolved inside the root filesystem as if it were `/` (openat2
RESOLVE_IN_ROOT, see snapshots/rootfs.py): a symbolic link `/data -> /etc` in the image
makes a mount on /data land on the container's own /etc, never on the host's. Missing
components are created inside the root (directories, and an empty file for a file
source), as moby's MkdirAllInRoot, and runc gets the resolved path, so that it follows
no link of the container's at all.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Protocol

from berth.domain.errors import InvalidParameter

from .snapshots.rootfs import open_in_root


class MountTargetError(InvalidParameter):
    """A mount's source or target cannot be set up (a 400, or a start failure)."""


class MountPoints(Protocol):
    """The host side of mounts. Paths inside a root are absolute container paths."""

    def source_exists(self, source: str) -> bool:
        """Whether a bind source exists on the host (a link to nothing does not)."""
        ...

    def ensure_source(self, source: str, create: bool) -> bool:
        """A bind source ready to mount, answering whether it is a directory. With
        `create`, a missing one is made a directory (0755, parents too); else a missing
        one is `MountTargetError` with dockerd's message."""
        ...

    def prepare_target(self, rootfs: Path, destination: str, directory: bool) -> str:
        """`destination` resolved inside `rootfs`, links followed as if `rootfs` were `/`;
        what is missing is created (the last component a directory, or an empty file
        when not `directory`). Answers the resolved absolute container path."""
        ...

    def find_target(self, rootfs: Path, destination: str) -> str | None:
        """`destination` resolved inside `rootfs` as `prepare_target` does, without
        creating anything; None when it is missing."""
        ...


def missing_bind_source(source: str) -> MountTargetError:
    return MountTargetError(
        f'invalid mount config for type "bind": bind source path does not exist: {source}'
    )


class HostMountPoints:
    """The real host: openat2 inside root filesystems."""

    def source_exists(self, source: str) -> bool:
        return os.path.exists(source)

    def ensure_source(self, source: str, create: bool) -> bool:
        try:
            return stat.S_ISDIR(os.stat(source).st_mode)
        except FileNotFoundError:
            if not create:
                raise missing_bind_source(source) from None
        try:
            os.makedirs(source, mode=0o755, exist_ok=True)
        except OSError as error:
            raise MountTargetError(
                f"error while creating mount source path '{source}': {error.strerror}"
            ) from None
        return True

    def prepare_target(self, rootfs: Path, destination: str, directory: bool) -> str:
        parts = _parts(destination)
        if not parts:
            return "/"
        try:
            fd = _open_or_create(rootfs, parts, directory)
        except OSError as error:
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise MountTargetError(
                f"cannot create mount point {destination} in the container: {reason}"
            ) from None
        try:
            return _container_path(rootfs, fd, destination)
        finally:
            os.close(fd)

    def find_target(self, rootfs: Path, destination: str) -> str | None:
        parts = _parts(destination)
        if not parts:
            return "/"
        try:
            fd = open_in_root(rootfs, parts)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return _container_path(rootfs, fd, destination)
        finally:
            os.close(fd)


def _parts(destination: str) -> list[str]:
    parts = [p for p in destination.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise MountTargetError(f"invalid mount target {destination!r}: contains '..'")
    return parts


def _open_or_create(rootfs: Path, parts: list[str], directory: bool) -> int:
    """An O_PATH descriptor of the target, creating the missing components in turn."""
    for index in range(len(parts)):
        last = index == len(parts) - 1
        try:
            fd = open_in_root(rootfs, parts[: index + 1])
        except FileNotFoundError:
            _create(rootfs, parts[:index], parts[index], directory or not last)
            fd = open_in_root(rootfs, parts[: index + 1])
        if not last:
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            os.close(fd)
            if not is_dir:
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
            continue
        return fd
    raise AssertionError("unreachable: parts is not empty")


def _create(rootfs: Path, parent: list[str], name: str, directory: bool) -> None:
    parent_fd = open_in_root(rootfs, parent) if parent else _root_fd(rootfs)
    try:
        if directory:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        else:
            flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open(name, flags, 0o644, dir_fd=parent_fd))
    except FileExistsError:
        pass  # made meanwhile, or a link to nothing: the second open says which
    finally:
        os.close(parent_fd)


def _root_fd(rootfs: Path) -> int:
    return os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _container_path(rootfs: Path, fd: int, destination: str) -> str:
    """The path the descriptor has, as seen from inside the container."""
    real = os.readlink(f"/proc/self/fd/{fd}")
    root = os.path.realpath(rootfs)
    if real == root:
        return "/"
    if not real.startswith(root + "/"):
        raise MountTargetError(f"mount target {destination} resolves outside the container")
    return real[len(root) :]
