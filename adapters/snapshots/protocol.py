"""What the image service may rely on from a snapshot store: the `Snapshots` Protocol.

Layers are unpacked into a directory of their own, checked, then committed under their
chain id and shared by every image that has them; each container gets a writable layer
on top of its image's layers, mounted as its root filesystem. The real store is
overlay.py's `SnapshotStore` (with unpack.py's safe unpacking); tests/fakes/snapshots.py
keeps the same promises without root, and tests/contracts/test_snapshots_contract.py
holds both to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from .unpack import UnpackResult


class Snapshots(Protocol):
    """Layers by chain id (`sha256:` + 64 hex, else `InvalidParameter`) and containers'
    root filesystems by container id (64 hex, else `InvalidParameter`).

    A layer exists once committed, whole; after a crash, what an unpack or a commit cut
    short is not a layer and `discard_partial` removes it. A write that finds no space
    is `DiskFull` naming the path, and leaves nothing.
    """

    def has_layer(self, chain_id: str) -> bool:
        """Whether the layer is committed."""
        ...

    def layers(self) -> list[str]:
        """Every committed layer's chain id, sorted."""
        ...

    def layer_size(self, chain_id: str) -> int:
        """The uncompressed size the layer was committed with; 0 if unknown."""
        ...

    def new_unpack_dir(self) -> Path:
        """A fresh place (not yet created) to unpack one layer into."""
        ...

    def unpack(self, blob: BinaryIO, target: Path) -> UnpackResult:
        """Unpack the layer blob (gzip, zstd or plain tar) into `target`, which must not
        exist yet; answers its diff id, size and entry count. Blocking: run it in a worker
        thread. Nothing may escape `target` (`..`, absolute paths, symlinks, hardlinks):
        such a layer is `LayerRejected`, a corrupt stream `InvalidParameter`. On any
        failure nothing is left at `target`."""
        ...

    def discard_unpack(self, target: Path) -> None:
        """Remove an unpacked layer that will not be committed (its diff id was wrong, or
        the pull was cancelled); an absent one is fine."""
        ...

    def commit_layer(self, chain_id: str, unpacked: Path, size: int) -> object:
        """Make the unpacked layer the committed layer `chain_id` (of `size` uncompressed
        bytes); a layer already committed is kept and `unpacked` removed."""
        ...

    def remove_layer(self, chain_id: str) -> None:
        """Remove a committed layer; an absent one is fine."""
        ...

    def discard_partial(self) -> list[str]:
        """Remove what unpacks and commits cut short by a crash left; what was removed.
        Only while nothing unpacks."""
        ...

    async def prepare(self, container_id: str, chain_ids: Sequence[str]) -> Path:
        """The container's root filesystem: the layers `chain_ids` (bottom first, each
        committed, else `InvalidParameter`) under a writable layer of its own; answers
        its path. Idempotent: a prepared container answers the same path, its writes
        kept. After an engine restart it is still there. One that fails may leave the
        writable layer behind: `containers()` lists it and `release` removes it."""
        ...

    async def release(self, container_id: str) -> None:
        """The container's root filesystem and writable layer are gone; idempotent."""
        ...

    def containers(self) -> list[str]:
        """The ids of every container with a writable layer here, sorted."""
        ...


@runtime_checkable
class LayerDirectories(Protocol):
    """A store whose layers are directories on disk in overlay's format (whiteouts as 0/0
    character devices, opaque directories marked `trusted.overlay.opaque=y`): what
    `docker diff` and `docker commit` read. The real store is one; the fake, which keeps
    layers in memory, is not."""

    def layer_dir(self, chain_id: str) -> Path:
        """The committed layer's directory."""
        ...

    def upper_dir(self, container_id: str) -> Path:
        """The container's writable layer (overlay's upper directory)."""
        ...

    def work_dir(self, container_id: str) -> Path:
        """Overlay's work directory of the container's mount."""
        ...

    def rootfs(self, container_id: str) -> Path:
        """Where the container's root filesystem is mounted (overlay's merged directory)."""
        ...
