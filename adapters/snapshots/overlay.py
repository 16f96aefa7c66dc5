"""Layer directories and per-container overlay mounts.

Layout under the snapshots root (see ADR/0007):

    layers/<chain-id hex>/diff   one unpacked layer, shared by every image that has it
    layers/<chain-id hex>/link   the layer's short name
    l/<short name>               symlink to ../layers/<hex>/diff, used in mount options
    containers/<id>/upper|work   a container's writable layer and overlay's work dir
    containers/<id>/merged       where the root filesystem is mounted
    tmp/                         layers being unpacked, renamed into place when verified

The kernel takes mount options in one page (4096 bytes). Absolute lowerdir paths of ~100
bytes would cap an image at ~40 layers, so lowerdirs are short relative names resolved
from the snapshots root (overlay_mount.py): 120 layers take ~1.4 KB.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import trio

from berth.domain.errors import BerthError, InvalidParameter, space_for

from ..private_files import write_private
from .overlay_mount import mount_overlay
from .unpack import UnpackResult, unpack_stream

SHORT_NAME_BYTES = 5  # 10 hex characters; collisions are detected and redrawn
MAX_OPTIONS = 4000  # the kernel's limit is one page including the terminating NUL


class MountError(BerthError):
    http_status = 500


_HEX = frozenset("0123456789abcdef")


def _hex(chain_id: str) -> str:
    algorithm, _, digest = chain_id.partition(":")
    if algorithm != "sha256" or len(digest) != 64 or not set(digest) <= _HEX:
        raise InvalidParameter(f"invalid chain id {chain_id!r}")
    return digest


def _check_container_id(container_id: str) -> str:
    if len(container_id) != 64 or not set(container_id) <= _HEX:
        raise InvalidParameter(f"invalid container id {container_id!r}")
    return container_id


_libc = ctypes.CDLL(None, use_errno=True)


def unmount(path: Path) -> None:
    """umount(2) without a `umount` process; a path that is not mounted is fine."""
    if _libc.umount2(os.fsencode(path), 0) == 0:
        return
    code = ctypes.get_errno()
    if code == errno.EINVAL and str(path) not in mounted_paths():
        return  # not a mount point (any more)
    raise MountError(f"failed to unmount {path}: {os.strerror(code)}")


def mounted_paths() -> set[str]:
    """Mount points of this mount namespace, from /proc/self/mountinfo."""
    paths = set()
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            # Field 5 is the mount point, with space, tab, newline and backslash escaped.
            point = line.split(" ")[4]
            paths.add(point.encode().decode("unicode_escape"))
    return paths


class SnapshotStore:
    """Layers keyed by chain id, and the overlay mounts that stack them for containers
    (the real `Snapshots`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("layers", "l", "containers", "tmp"):
            (root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(root, 0o700)

    # Layers ----------------------------------------------------------------------------------

    def layer_dir(self, chain_id: str) -> Path:
        return self.root / "layers" / _hex(chain_id) / "diff"

    def has_layer(self, chain_id: str) -> bool:
        return (self.root / "layers" / _hex(chain_id) / "link").is_file()

    def layer_size(self, chain_id: str) -> int:
        try:
            return int((self.root / "layers" / _hex(chain_id) / "size").read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def layers(self) -> list[str]:
        return sorted(
            "sha256:" + entry.name
            for entry in (self.root / "layers").iterdir()
            if (entry / "link").is_file()
        )

    def discard_partial(self) -> list[str]:
        """Remove what an unpack cut short by a crash left: unpack directories, layers
        never committed and short-name links to nothing. Only while nothing unpacks."""
        removed = []
        for entry in (self.root / "tmp").iterdir():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(str(entry))
        for home in (self.root / "layers").iterdir():
            if not (home / "link").is_file():
                shutil.rmtree(home, ignore_errors=True)
                removed.append(str(home))
        for link in (self.root / "l").iterdir():
            if link.is_symlink() and not link.exists():
                link.unlink()
                removed.append(str(link))
        return removed

    def new_unpack_dir(self) -> Path:
        """A path (not yet created) on the same filesystem as the layers, for unpacking."""
        return self.root / "tmp" / secrets.token_hex(16)

    def unpack(self, blob: BinaryIO, target: Path) -> UnpackResult:
        return unpack_stream(blob, target)

    def discard_unpack(self, target: Path) -> None:
        shutil.rmtree(target, ignore_errors=True)

    def commit_layer(self, chain_id: str, unpacked: Path, size: int) -> Path:
        """Move a verified unpacked layer (of `size` uncompressed bytes) into place; a
        no-op if it is there already."""
        home = self.root / "layers" / _hex(chain_id)
        if self.has_layer(chain_id):
            shutil.rmtree(unpacked, ignore_errors=True)
            return home / "diff"
        shutil.rmtree(home, ignore_errors=True)  # a half-committed earlier attempt
        short = self._new_short_name()
        with space_for(home):
            try:
                home.mkdir(mode=0o700)
                write_private(home / "size", str(size))
                os.rename(unpacked, home / "diff")
                os.symlink(f"../layers/{home.name}/diff", self.root / "l" / short)
                # The link file is written last: its presence is what makes the layer exist.
                tmp_link = home / "link.tmp"
                write_private(tmp_link, short)
                os.rename(tmp_link, home / "link")
            except BaseException:
                (self.root / "l" / short).unlink(missing_ok=True)
                shutil.rmtree(home, ignore_errors=True)
                raise
        return home / "diff"

    def remove_layer(self, chain_id: str) -> None:
        home = self.root / "layers" / _hex(chain_id)
        link = home / "link"
        if link.is_file():
            (self.root / "l" / link.read_text().strip()).unlink(missing_ok=True)
            link.unlink()
        shutil.rmtree(home, ignore_errors=True)

    def _new_short_name(self) -> str:
        while True:
            short = secrets.token_hex(SHORT_NAME_BYTES)
            if not (self.root / "l" / short).exists():
                return short

    def _short_name(self, chain_id: str) -> str:
        link = self.root / "layers" / _hex(chain_id) / "link"
        try:
            return link.read_text().strip()
        except FileNotFoundError:
            raise InvalidParameter(f"layer {chain_id} is not unpacked") from None

    # Containers ------------------------------------------------------------------------------

    def container_dir(self, container_id: str) -> Path:
        return self.root / "containers" / _check_container_id(container_id)

    def upper_dir(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "upper"

    def rootfs(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "merged"

    def work_dir(self, container_id: str) -> Path:
        return self.container_dir(container_id) / "work"

    def mount_options(self, container_id: str, chain_ids: Sequence[str]) -> str:
        home = self.container_dir(container_id)
        # overlay lists the top layer first; images list the bottom layer first.
        lower = ":".join(f"l/{self._short_name(c)}" for c in reversed(chain_ids))
        options = f"lowerdir={lower},upperdir={home / 'upper'},workdir={home / 'work'}"
        if len(options) > MAX_OPTIONS:
            raise InvalidParameter(f"too many layers to mount ({len(chain_ids)})")
        return options

    async def prepare(self, container_id: str, chain_ids: Sequence[str]) -> Path:
        """Create the writable layer and mount the root filesystem; idempotent."""
        home = self.container_dir(container_id)
        merged = home / "merged"
        # Two stats (its device is not its parent's), where mountinfo is a line per mount
        # of the host: every docker cp and export asks, on the event loop.
        if os.path.ismount(merged):
            return merged
        if not chain_ids:
            empty = self.root / "empty"
            empty.mkdir(mode=0o755, exist_ok=True)
            chain_ids = []
        with space_for(home):
            home.mkdir(mode=0o700, exist_ok=True)
            for sub in ("upper", "work", "merged"):
                (home / sub).mkdir(mode=0o755, exist_ok=True)
        if chain_ids:
            options = self.mount_options(container_id, chain_ids)
        else:
            options = f"lowerdir=empty,upperdir={home / 'upper'},workdir={home / 'work'}"
        refusal = await mount_overlay(self.root, options, merged)
        if refusal is not None:
            raise MountError(f"error creating overlay mount to {merged}: {refusal}")
        return merged

    async def release(self, container_id: str) -> None:
        """Unmount and delete the container's writable layer; idempotent."""
        home = self.container_dir(container_id)
        await trio.to_thread.run_sync(self._unmount_and_delete, home)

    @staticmethod
    def _unmount_and_delete(home: Path) -> None:
        merged = home / "merged"
        if merged.is_dir():
            unmount(merged)  # reads the mounts only if it was not mounted
        shutil.rmtree(home, ignore_errors=True)

    def containers(self) -> list[str]:
        return sorted(entry.name for entry in (self.root / "containers").iterdir())
