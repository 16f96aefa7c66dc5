"""An archive a client sends (`docker cp` into a container) extracted into an existing
directory of a container's root filesystem, through the same policy as image layers.

The archive is the client's, the directory the container's: neither is trusted. So

- the archive goes through the layer pipeline (decompression, our tar header parser, the
  pure `LayerPlanner`) twice: a first pass decides every entry without writing anything,
  so an archive the policy refuses (`..` above the target, a link used as a parent, a
  hardlink out of the archive...) is refused whole, with nothing written; the second
  pass writes (a plain archive in a file, as berthd spools an upload, is read in place:
  plain_archive.py);
- the writer is unpack.py's `LayerWriter`, which opens every path component again for
  every action with O_NOFOLLOW relative to the target's descriptor: a symbolic link the
  container put in the target is never followed. What the target already holds is
  replaced as dockerd does: a directory over a directory merges, anything else is
  removed first, unless `no_overwrite_dir_non_dir` forbids replacing a directory by a
  non-directory or the reverse;
- overlay whiteouts have no meaning in a copy: an archive holding one is refused;
- directories the archive only implies are created 0755 when missing; existing ones,
  and the target itself, keep their mode and owner.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import stat
from collections.abc import Iterable
from typing import BinaryIO

from berth.domain.errors import InvalidParameter
from berth.domain.layer_entries import (
    DEFAULT_LIMITS,
    Action,
    Entry,
    Hardlink,
    LayerRejected,
    MakeDevice,
    MakeDir,
    OpaqueDir,
    SetDirMetadata,
    Symlink,
    Whiteout,
    WriteFile,
)
from berth.domain.layers import LayerPlanner

from .decompress import HashingStream, decompressed
from .plain_archive import PlainArchive, is_plain_file
from .tarstream import TarReader
from .unpack import LayerWriter, _components

Owner = tuple[int, int]


class _Planned(LayerPlanner):
    """The planner, refusing whiteouts: an archive copied in is not a layer."""

    def feed(self, entry: Entry) -> tuple[Action, ...]:
        actions = super().feed(entry)
        for action in actions:
            if isinstance(action, Whiteout | OpaqueDir):
                raise LayerRejected("whiteouts are not allowed in a copied archive", entry.name)
        return actions


class ExtractWriter(LayerWriter):
    """A LayerWriter into a directory that already holds things."""

    def __init__(self, root_fd: int, owner: Owner | None, no_overwrite_dir_non_dir: bool) -> None:
        super().__init__(root_fd)
        self._owner = owner
        self._keep_kinds = no_overwrite_dir_non_dir
        self.created: set[str] = set()

    def apply(self, action: Action, data: Iterable[bytes] = ()) -> None:
        if isinstance(action, SetDirMetadata):
            if action.path and (action.uid is not None or action.path in self.created):
                super().apply(self._owned(action))
            return
        if isinstance(action, WriteFile | Symlink | MakeDevice | Hardlink | MakeDir):
            self._make_room(action.path, isinstance(action, MakeDir))
        super().apply(self._owned(action), data)

    def _owned(self, action: Action) -> Action:
        if self._owner is None or not isinstance(
            action, WriteFile | Symlink | MakeDevice | SetDirMetadata
        ):
            return action
        uid, gid = self._owner
        return dataclasses.replace(action, uid=uid, gid=gid)

    def _make_room(self, path: str, for_dir: bool) -> None:
        parts = _components(path)
        if not parts:
            return  # the target itself, a directory
        with self._dir(parts[:-1]) as parent:
            try:
                mode = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False).st_mode
            except FileNotFoundError:
                if for_dir:
                    self.created.add(path)
                return
            is_dir = stat.S_ISDIR(mode)
            if is_dir and for_dir:
                return
            if for_dir and stat.S_ISLNK(mode):
                # dockerd follows it (inside the root); replacing it would break the
                # container, following it here is what the policy never does.
                raise InvalidParameter(
                    f"cannot extract into {path!r}: it is a symbolic link in the container"
                )
            if self._keep_kinds:
                old, new = (
                    ("directory", "non-directory") if is_dir else ("non-directory", "directory")
                )
                raise InvalidParameter(f'cannot overwrite {old} "/{path}" with {new} "{path}"')
            if is_dir:
                shutil.rmtree(parts[-1], dir_fd=parent)  # fd-based: never follows a link
            else:
                os.unlink(parts[-1], dir_fd=parent)
            if for_dir:
                self.created.add(path)


def _reader(raw: BinaryIO) -> TarReader:
    if is_plain_file(raw):
        return TarReader(PlainArchive(raw, DEFAULT_LIMITS.max_bytes))
    return TarReader(HashingStream(decompressed(raw), DEFAULT_LIMITS.max_bytes, hashing=False))


def _plan(raw: BinaryIO) -> None:
    tar = _reader(raw)
    planner = _Planned(DEFAULT_LIMITS)
    while (entry := tar.next_entry()) is not None:
        planner.feed(entry)


def extract_archive(
    archive: BinaryIO,
    target_fd: int,
    *,
    owner: Owner | None = None,
    no_overwrite_dir_non_dir: bool = False,
) -> int:
    """Extract `archive` (plain, gzip or zstd tar, seekable) into the directory
    `target_fd`; answers the number of entries. Blocking: a worker thread's.

    `owner` (uid, gid) replaces the owners the archive names. Refused archives
    (`LayerRejected`, `InvalidParameter` for a corrupt stream) leave the target as it was.
    """
    start = archive.tell()
    _plan(archive)
    archive.seek(start)
    tar = _reader(archive)
    planner = _Planned(DEFAULT_LIMITS)
    writer = ExtractWriter(target_fd, owner, no_overwrite_dir_non_dir)
    try:
        while (entry := tar.next_entry()) is not None:
            for action in planner.feed(entry):
                writer.apply(action, tar.data() if isinstance(action, WriteFile) else ())
        for metadata in planner.finish():
            writer.apply(metadata)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise InvalidParameter(
                f"cannot extract through a symbolic link in the container: {error.filename}"
            ) from None
        raise
    return planner.entries
