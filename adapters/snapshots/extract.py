"""An archive a client sends (`docker cp` into a container) extracted into an existing
directory of a container's root filesystem, through the same policy as image layers.

The archive is the client's, the directory the container's: neither is trusted. So

- the archive goes through the layer pipeline (our tar header parser, the pure
  `LayerPlanner`) in one pass, as it arrives: every entry is decided before anything is
  written, and the files' contents wait unnamed (staging.py) until the last entry has
  been accepted; only then is the plan carried out, so an archive the policy refuses
  (`..` above the target, a link used as a parent, a hardlink out of the archive...) is
  refused whole, with nothing written, and each byte accepted is written once;
- the writer is unpack.py's `LayerWriter`, which reaches every directory by opening its
  path's components with O_NOFOLLOW from the target's descriptor: a symbolic link the
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
import io
import os
import shutil
import stat
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

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
from .staging import Staged, StagedFile, Staging
from .tarstream import Data, TarReader, TarSource
from .unpack import LayerWriter, _components

Owner = tuple[int, int]
A = TypeVar("A", bound=Action)


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

    def apply(self, action: Action, data: Data | StagedFile = ()) -> None:
        if isinstance(action, SetDirMetadata):
            if action.path and (action.uid is not None or action.path in self.created):
                super().apply(self.owned(action))
            return
        if isinstance(action, WriteFile | Symlink | MakeDevice | Hardlink | MakeDir):
            self._make_room(action.path, isinstance(action, MakeDir))
        super().apply(self.owned(action), cast(Data, data))  # a StagedFile: _write_file's

    def owned(self, action: A) -> A:
        """The action with the owner every entry gets, if one was asked for."""
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
        parent = self._dirs.open(parts[:-1])
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
            old, new = ("directory", "non-directory") if is_dir else ("non-directory", "directory")
            raise InvalidParameter(f'cannot overwrite {old} "/{path}" with {new} "{path}"')
        self._dirs.forget(parts)  # about to be removed or replaced
        if is_dir:
            shutil.rmtree(parts[-1], dir_fd=parent)  # fd-based: never follows a link
        else:
            os.unlink(parts[-1], dir_fd=parent)
        if for_dir:
            self.created.add(path)

    def _write_file(self, action: WriteFile, data: Data | StagedFile) -> None:
        if isinstance(data, StagedFile):
            parts = _components(action.path)
            parent = self._dirs.open(parts[:-1])
            if data.place(parent, parts[-1]):
                return
            data = data.region()  # another filesystem below the target: copied
        super()._write_file(action, data)


def archive_source(raw: BinaryIO) -> TarSource:
    """The uncompressed archive of an open (seekable) file: a plain tar in a regular file
    is read in place (plain_archive.py), anything else through its decompressor."""
    if is_plain_file(raw):
        return PlainArchive(raw, DEFAULT_LIMITS.max_bytes)
    return HashingStream(decompressed(raw), DEFAULT_LIMITS.max_bytes, hashing=False)


def extract_archive(
    archive: BinaryIO | TarSource,
    target_fd: int,
    *,
    owner: Owner | None = None,
    no_overwrite_dir_non_dir: bool = False,
    heap_dir: Path | None = None,
    tmpfile_budget: int | None = None,
) -> int:
    """Extract `archive` (an open plain, gzip or zstd tar, or the source of one as it
    arrives) into the directory `target_fd`; answers the number of entries. Blocking: a
    worker thread's.

    `owner` (uid, gid) replaces the owners the archive names. Refused archives
    (`LayerRejected`, `InvalidParameter` for a corrupt stream) leave the target as it was.
    `heap_dir` and `tmpfile_budget`: where and how the files wait (staging.py).
    """
    source = archive_source(cast(BinaryIO, archive)) if isinstance(archive, io.IOBase) else archive
    tar = TarReader(cast(TarSource, source))
    planner = _Planned(DEFAULT_LIMITS)
    with (
        ExtractWriter(target_fd, owner, no_overwrite_dir_non_dir) as writer,
        Staging(target_fd, heap_dir, tmpfile_budget) as staging,
    ):
        plan: list[tuple[Action, Staged | tuple[()]]] = []
        while (entry := tar.next_entry()) is not None:
            for action in planner.feed(entry):
                if isinstance(action, WriteFile):
                    plan.append((action, staging.stage(writer.owned(action), tar.data())))
                else:
                    plan.append((action, ()))
        plan.extend((metadata, ()) for metadata in planner.finish())
        try:
            for action, content in plan:
                writer.apply(action, content)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise InvalidParameter(
                    f"cannot extract through a symbolic link in the container: {error.filename}"
                ) from None
            raise
    return planner.entries
