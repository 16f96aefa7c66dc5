"""Files of a container's root filesystem, reached from the host: stat, tar out, tar in.

Paths are the container's: cleaned lexically first (`..` stops at `/`), then resolved
inside the root with rootfs.py's `open_container_path` (openat2 RESOLVE_IN_ROOT), so a link in
the container, absolute or not, resolves as it would inside the container and never to
the host. As dockerd: stat and archive do not follow a link at the end of the path
(lstat), extraction does (the target directory may be reached through a link).

Missing paths raise FileNotFoundError; blocking calls, for worker threads.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from berth.domain.container_paths import clean_parts
from berth.domain.errors import InvalidParameter
from berth.domain.layer_entries import DEFAULT_LIMITS

from .extract import Owner, extract_archive
from .piece_source import Pieces, tar_source
from .rootfs import open_container_path
from .tree_tar import TarSink, TreeTar, write_tree

# Go's os.FileMode bits, which the X-Docker-Container-Path-Stat header carries.
GO_DIR = 1 << 31
GO_SYMLINK = 1 << 27
GO_DEVICE = 1 << 26
GO_PIPE = 1 << 25
GO_SOCKET = 1 << 24
GO_SETUID = 1 << 23
GO_SETGID = 1 << 22
GO_CHAR = 1 << 21
GO_STICKY = 1 << 20
_GO_KIND = {
    stat.S_IFDIR: GO_DIR,
    stat.S_IFLNK: GO_SYMLINK,
    stat.S_IFBLK: GO_DEVICE,
    stat.S_IFCHR: GO_DEVICE | GO_CHAR,
    stat.S_IFIFO: GO_PIPE,
    stat.S_IFSOCK: GO_SOCKET,
}
_MAX_LINKS = 255  # as Go's filepath.EvalSymlinks
MAX_BYTES = DEFAULT_LIMITS.max_bytes


def go_file_mode(mode: int) -> int:
    """`st_mode` as Go's os.FileMode (what dockerd's JSON holds)."""
    bits = _GO_KIND.get(stat.S_IFMT(mode), 0) | (mode & 0o777)
    for flag, go in (
        (stat.S_ISUID, GO_SETUID),
        (stat.S_ISGID, GO_SETGID),
        (stat.S_ISVTX, GO_STICKY),
    ):
        if mode & flag:
            bits |= go
    return bits


def go_time(ns: int) -> str:
    """RFC 3339 with nanoseconds, trailing zeros dropped, as Go's time marshals."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{text}{'.' + digits if digits else ''}Z"


@dataclass(frozen=True)
class PathStat:
    name: str
    size: int
    mode: int  # Go FileMode bits
    mtime: str
    link_target: str

    def doc(self) -> dict[str, object]:
        return {
            "name": self.name,
            "size": self.size,
            "mode": self.mode,
            "mtime": self.mtime,
            "linkTarget": self.link_target,
        }


@contextmanager
def _fd(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _parent_and_name(root: Path, path: str) -> tuple[int, str]:
    """An O_PATH descriptor of the path's directory (links followed in the root) and the
    last component (not followed); ENOENT when the directory is missing."""
    parts = clean_parts(path)
    if not parts:
        raise InvalidParameter("the root of a container has no parent")
    try:
        parent = open_container_path(root, "/".join(parts[:-1]), follow_last=True)
    except NotADirectoryError:
        raise FileNotFoundError(errno.ENOENT, "no such file or directory", path) from None
    return parent, parts[-1]


def _base_name(path: str) -> str:
    """The name dockerd gives the path's top entry: `.` for `dir/.`, else its last part."""
    if path.endswith("/.") or path == ".":
        return "."
    parts = clean_parts(path)
    return parts[-1] if parts else "/"


def link_target(root: Path, path: str) -> str:
    """The path a link at `path` leads to, every link followed inside the root as far as
    the path exists (dockerd's FollowSymlinkInScope)."""
    pending = clean_parts(path)
    resolved: list[str] = []
    followed = 0
    while pending:
        part = pending.pop(0)
        here = root.joinpath(*resolved, part)
        try:
            is_link = stat.S_ISLNK(os.lstat(here).st_mode)
        except OSError:
            is_link = False
        if not is_link:
            resolved.append(part)
            continue
        followed += 1
        if followed > _MAX_LINKS:
            raise InvalidParameter(f"too many links in {path}")
        target = os.readlink(here)
        base = [] if target.startswith("/") else resolved
        pending = clean_parts("/".join([*base, target])) + pending
        resolved = []
    return "/" + "/".join(resolved)


def stat_path(root: Path, path: str, name: str | None = None) -> PathStat:
    """dockerd's stat of a container path: lstat of its last component (`name`: the
    name to show, when `root` is a mount's source rather than the root filesystem)."""
    if not clean_parts(path):
        status, shown = os.stat(root), name or "/"
    else:
        parent, shown = _parent_and_name(root, path)
        with _fd(parent):
            status = os.stat(shown, dir_fd=parent, follow_symlinks=False)
    target = link_target(root, path) if stat.S_ISLNK(status.st_mode) else ""
    return PathStat(
        name or shown,
        status.st_size,
        go_file_mode(status.st_mode),
        go_time(status.st_mtime_ns),
        target,
    )


def archive_path(
    root: Path,
    path: str,
    out: BinaryIO | TarSink,
    name: str | None = None,
    mounts: Mapping[str, Path] | None = None,
) -> None:
    """A tar of the path onto `out`: a file, link or device as one entry, a directory
    with everything below it, named from the path's base name (or `name`) as dockerd.
    `mounts`: the sources of the mount points below the path, by their path relative to
    it, archived in their place as the container sees them."""
    arcname = name if name is not None and not path.endswith("/.") else _base_name(path)
    whole_root = not clean_parts(path) and name is None
    prefix = "" if whole_root else arcname + "/"
    below = {prefix + relative: source for relative, source in (mounts or {}).items()}
    if not clean_parts(path):
        with (
            _fd(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)) as fd,
            TreeTar(out, mounts=below) as tree,
        ):
            if whole_root:
                tree.add_children(fd, "")
            else:  # a mount's source directory, as the directory `name`
                tree.add(fd, ".", arcname)
        return
    parent, last = _parent_and_name(root, path)
    with _fd(parent):
        os.stat(last, dir_fd=parent, follow_symlinks=False)  # FileNotFoundError first
        with TreeTar(out, mounts=below) as tree:
            tree.add(parent, last, arcname)


def export_tree(root: Path, out: BinaryIO | TarSink) -> None:
    """`docker export`: the whole root filesystem as a tar onto `out`."""
    with _fd(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)) as fd:
        write_tree(out, fd)


def extract_to(
    root: Path,
    path: str,
    archive: BinaryIO | Pieces,
    owner: Owner | None = None,
    no_overwrite_dir_non_dir: bool = False,
    *,
    heap_dir: Path | None = None,
    tmpfile_budget: int | None = None,
) -> None:
    """Extract the archive (an open file, or its pieces as they arrive) into the
    directory at `path` (links followed inside the root). InvalidParameter when it is not
    a directory."""
    with _fd(open_container_path(root, path, follow_last=True)) as found:
        if not stat.S_ISDIR(os.fstat(found).st_mode):
            raise InvalidParameter("extraction point is not a directory")
        source = tar_source(archive, MAX_BYTES) if callable(archive) else archive
        extract_archive(
            source,
            found,
            owner=owner,
            no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
            heap_dir=heap_dir,
            tmpfile_budget=tmpfile_budget,
        )
