"""Where a container's mounts land: host sources and targets inside its root filesystem.

A target is resolved inside the root filesystem as if it were `/` (openat2
RESOLVE_IN_ROOT, see snapshots/rootfs.py): a symbolic link `/data -> /etc` in the image
makes a mount on /data land on the container's own /etc, never on the host's. Missing
components are created inside the root (directories, and an empty file for a file
source), as moby's MkdirAllInRoot, and runc gets the resolved path, so that it follows
no link of the container's at all.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from berth.domain.errors import InvalidParameter

from .snapshots.rootfs import open_under


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

    def check_propagation(self, source: str, propagation: str) -> None:
        """A shared bind needs a shared source mount, a slave bind a shared or slave one
        (moby's ensureShared, ensureSharedOrSlave); else `MountTargetError`."""
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

    def copy_directory(self, rootfs: Path, destination: str, target: Path) -> bool:
        """Copy the directory at `destination` inside `rootfs` (resolved as `find_target`
        does) into the existing directory `target`: files, modes, owners, times, links
        as links, xattrs, and the directory's own mode and owner. False, copying nothing,
        when there is no directory there."""
        ...


def missing_bind_source(source: str) -> MountTargetError:
    return MountTargetError(
        f'invalid mount config for type "bind": bind source path does not exist: {source}'
    )


_NEEDS = {"shared": ("shared:",), "slave": ("shared:", "master:")}


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def source_mount(path: str, mountinfo: str) -> tuple[str, list[str]]:
    """The mount point `path` is on and that mount's optional fields (`shared:1`...),
    from the text of /proc/self/mountinfo: the longest mount point above `path`."""
    found, optional = "/", []
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 7:
            continue
        point = _unescape(fields[4])
        above = path == point or path.startswith(point.rstrip("/") + "/")
        if above and len(point) >= len(found):
            found, optional = point, fields[6 : fields.index("-")]
    return found, optional


def propagation_error(source: str, propagation: str, mountinfo: str) -> str | None:
    kind = propagation.removeprefix("r")
    if kind not in _NEEDS:
        return None
    point, optional = source_mount(source, mountinfo)
    if any(field.startswith(_NEEDS[kind]) for field in optional):
        return None
    wanted = "shared" if kind == "shared" else "shared or slave"
    return f"path {source} is mounted on {point} but it is not a {wanted} mount"


class HostMountPoints:
    """The real host: openat2 inside root filesystems."""

    def check_propagation(self, source: str, propagation: str) -> None:
        if propagation.removeprefix("r") not in _NEEDS:
            return  # private (the default) needs nothing of the source's mount
        with open("/proc/self/mountinfo") as info:
            error = propagation_error(os.path.realpath(source), propagation, info.read())
        if error:
            raise MountTargetError(error)

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
        try:
            return _in_root(
                rootfs, destination, lambda root, parts: _open_or_create(root, parts, directory)
            )
        except OSError as error:
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise MountTargetError(
                f"cannot create mount point {destination} in the container: {reason}"
            ) from None

    def copy_directory(self, rootfs: Path, destination: str, target: Path) -> bool:
        return copy_found_directory(rootfs, self.find_target(rootfs, destination), target)

    def find_target(self, rootfs: Path, destination: str) -> str | None:
        try:
            return _in_root(rootfs, destination, open_under)
        except (FileNotFoundError, NotADirectoryError):
            return None


def copy_found_directory(rootfs: Path, found: str | None, target: Path) -> bool:
    """`copy_directory` once the target is resolved (to `found`, a container path)."""
    if found is None:
        return False
    source = Path(os.path.realpath(rootfs)) / found.lstrip("/")
    if source.is_symlink() or not source.is_dir():
        return False
    result = subprocess.run(
        ["cp", "-a", "--no-dereference", f"{source}/.", f"{target}/"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise MountTargetError(f"cannot copy {found} of the image: {result.stderr.strip()}")
    return True


def _parts(destination: str) -> list[str]:
    parts = [p for p in destination.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise MountTargetError(f"invalid mount target {destination!r}: contains '..'")
    return parts


def _open_or_create(root_fd: int, parts: list[str], directory: bool) -> int:
    """An O_PATH descriptor of the target, creating the missing components in turn."""
    try:
        return open_under(root_fd, parts)  # there already: one resolution
    except FileNotFoundError:
        pass
    parent = root_fd
    try:
        for index in range(len(parts)):
            last = index == len(parts) - 1
            flags = 0 if last else os.O_DIRECTORY
            try:
                fd = open_under(root_fd, parts[: index + 1], flags)
            except FileNotFoundError:
                _create(parent, parts[index], directory or not last)
                fd = open_under(root_fd, parts[: index + 1], flags)
            if parent != root_fd:
                os.close(parent)
            parent = fd
        return parent
    except BaseException:
        if parent != root_fd:
            os.close(parent)
        raise


def _create(parent_fd: int, name: str, directory: bool) -> None:
    try:
        if directory:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        else:
            flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            # 0755, as moby's createIfNotExists (and its /.dockerenv)
            os.close(os.open(name, flags, 0o755, dir_fd=parent_fd))
    except FileExistsError:
        pass  # made meanwhile, or a link to nothing: the second open says which


def _root_fd(rootfs: Path) -> int:
    return os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _in_root(rootfs: Path, destination: str, open_target: Callable[[int, list[str]], int]) -> str:
    """`destination` as a path inside the container, as `open_target(the root's
    descriptor, its components)` opens it: one descriptor of the root for every step."""
    parts = _parts(destination)
    if not parts:
        return "/"
    root_fd = _root_fd(rootfs)
    try:
        fd = open_target(root_fd, parts)
        try:
            return _container_path(root_fd, fd, destination)
        finally:
            os.close(fd)
    finally:
        os.close(root_fd)


def _container_path(root_fd: int, fd: int, destination: str) -> str:
    """The path the descriptor has, as seen from inside the container (both paths as the
    kernel names them)."""
    real = os.readlink(f"/proc/self/fd/{fd}")
    root = os.readlink(f"/proc/self/fd/{root_fd}")
    if real == root:
        return "/"
    if not real.startswith(root + "/"):
        raise MountTargetError(f"mount target {destination} resolves outside the container")
    return real[len(root) :]
