"""A `Snapshots` without root: layers held in memory, root filesystems as plain directories.

Unpacking reads the blob as the real store does (gzip, zstd or plain tar, hashed for its
diff id) and applies the same pure policy (berth.domain.layers.LayerPlanner), so a layer
the real store refuses is refused here too; the result is a tree in memory instead of a
directory. `prepare` writes the container's layers, merged as overlay would (whiteouts
and opaque directories hide what is below), into `<root>/containers/<id>/merged`: a
plain directory the engine can read /etc/passwd from and a FakeRuntime can look for a
command in. Device nodes are not made (that needs root).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import trio

from berth.adapters.snapshots.decompress import HashingStream, decompressed
from berth.adapters.snapshots.tarstream import TarReader
from berth.adapters.snapshots.unpack import UnpackResult
from berth.domain import layers
from berth.domain.errors import InvalidParameter
from berth.domain.layers import DEFAULT_LIMITS, LayerPlanner

from .faults import Faults

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class Node:
    kind: str  # "dir", "file", "symlink", "device", "whiteout"
    data: bytes = b""  # a file's bytes, a symlink's target
    mode: int = 0o755
    opaque: bool = False  # a directory that hides what lower layers have below it


Tree = dict[str, Node]  # by path in the layer, "" the root


@dataclass
class _Layer:
    tree: Tree
    size: int


def _chain_hex(chain_id: str) -> str:
    algorithm, _, digest = chain_id.partition(":")
    if algorithm != "sha256" or not _HEX64.fullmatch(digest):
        raise InvalidParameter(f"invalid chain id {chain_id!r}")
    return digest


def _check_container_id(container_id: str) -> None:
    if not _HEX64.fullmatch(container_id):
        raise InvalidParameter(f"invalid container id {container_id!r}")


class FakeSnapshots:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.faults = Faults()
        self.committed: dict[str, _Layer] = {}
        self.unpacked: dict[Path, Tree] = {}
        self.prepared: set[str] = set()  # containers with a writable layer
        self.mounted: set[str] = set()  # and their root filesystem ready
        self._names = itertools.count()

    # -- layers ---------------------------------------------------------------------------

    def has_layer(self, chain_id: str) -> bool:
        _chain_hex(chain_id)
        return chain_id in self.committed

    def layers(self) -> list[str]:
        return sorted(self.committed)

    def layer_size(self, chain_id: str) -> int:
        _chain_hex(chain_id)
        layer = self.committed.get(chain_id)
        return 0 if layer is None else layer.size

    def new_unpack_dir(self) -> Path:
        return self.root / "tmp" / f"unpack-{next(self._names)}"

    def unpack(self, blob: BinaryIO, target: Path) -> UnpackResult:
        if target in self.unpacked:
            raise FileExistsError(f"{target} exists")
        self.faults.check("unpack")
        self.faults.check_space(target)
        stream = HashingStream(decompressed(blob), DEFAULT_LIMITS.max_bytes)
        tar = TarReader(stream)
        planner = LayerPlanner(DEFAULT_LIMITS)
        tree: Tree = {"": Node("dir")}
        while (entry := tar.next_entry()) is not None:
            for action in planner.feed(entry):
                data = b"".join(tar.data()) if isinstance(action, layers.WriteFile) else b""
                _apply(tree, action, data)
        for metadata in planner.finish():
            _apply(tree, metadata, b"")
        stream.drain()
        self.unpacked[target] = tree
        return UnpackResult(diff_id=stream.diff_id, size=stream.size, entries=planner.entries)

    def discard_unpack(self, target: Path) -> None:
        self.unpacked.pop(target, None)

    def commit_layer(self, chain_id: str, unpacked: Path, size: int) -> Path:
        home = self.root / "layers" / _chain_hex(chain_id)
        if chain_id not in self.committed:
            self.faults.check_space(home)
            self.committed[chain_id] = _Layer(self.unpacked[unpacked], size)
        self.unpacked.pop(unpacked, None)
        return home / "diff"

    def remove_layer(self, chain_id: str) -> None:
        _chain_hex(chain_id)
        self.committed.pop(chain_id, None)

    def discard_partial(self) -> list[str]:
        removed = sorted(str(path) for path in self.unpacked)
        self.unpacked.clear()
        return removed

    # -- containers ---------------------------------------------------------------------

    async def prepare(self, container_id: str, chain_ids: Sequence[str]) -> Path:
        _check_container_id(container_id)
        merged = self.root / "containers" / container_id / "merged"
        if container_id in self.mounted:
            return merged
        self.faults.check_space(merged.parent)
        self.prepared.add(container_id)  # its writable layer, even if what follows fails
        trees = []
        for chain_id in chain_ids:
            if not self.has_layer(chain_id):
                raise InvalidParameter(f"layer {chain_id} is not unpacked")
            trees.append(self.committed[chain_id].tree)
        self.faults.check("prepare")
        await trio.to_thread.run_sync(_write_merged, merged, _merge(trees))
        self.mounted.add(container_id)
        return merged

    async def release(self, container_id: str) -> None:
        _check_container_id(container_id)
        self.faults.check("release")
        await trio.to_thread.run_sync(shutil.rmtree, self.root / "containers" / container_id, True)
        self.prepared.discard(container_id)
        self.mounted.discard(container_id)

    def containers(self) -> list[str]:
        return sorted(self.prepared)


def _below(tree: Tree, path: str) -> list[str]:
    return [p for p in tree if p.startswith(path + "/") or (path == "" and p != "")]


def _apply(tree: Tree, action: object, data: bytes) -> None:
    """One planner action on an in-memory layer (as unpack.LayerWriter does on disk)."""
    if isinstance(action, layers.MakeDir):
        if tree.get(action.path, Node("file")).kind != "dir":
            tree[action.path] = Node("dir", mode=0o700)
    elif isinstance(action, layers.WriteFile):
        tree[action.path] = Node("file", data, action.mode)
    elif isinstance(action, layers.Symlink):
        tree[action.path] = Node("symlink", action.target.encode())
    elif isinstance(action, layers.Hardlink):
        tree[action.path] = tree[action.target]
    elif isinstance(action, layers.MakeDevice):
        tree[action.path] = Node("device", mode=action.mode)
    elif isinstance(action, layers.Whiteout):
        tree[action.path] = Node("whiteout")
    elif isinstance(action, layers.OpaqueDir):
        tree[action.path].opaque = True
    elif isinstance(action, layers.Remove):
        for path in [action.path, *_below(tree, action.path)]:
            tree.pop(path, None)
    elif isinstance(action, layers.SetDirMetadata):
        tree[action.path].mode = action.mode


def _merge(trees: list[Tree]) -> Tree:
    """The layers bottom first, stacked as overlay shows them."""
    merged: Tree = {"": Node("dir")}
    for tree in trees:
        for path, node in sorted(tree.items()):
            if node.kind == "whiteout" or (node.kind == "dir" and node.opaque):
                for hidden in _below(merged, path):
                    del merged[hidden]
            if node.kind == "whiteout":
                merged.pop(path, None)
            elif node.kind != "dir" or merged.get(path, Node("file")).kind != "dir":
                for hidden in _below(merged, path):  # a file over a directory hides it
                    del merged[hidden]
                merged[path] = node
            else:
                merged[path] = Node("dir", mode=node.mode)
    return merged


def _write_merged(merged_dir: Path, tree: Tree) -> None:
    merged_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    for path, node in sorted(tree.items()):
        if not path:
            continue
        target = merged_dir / path
        if node.kind == "dir":
            target.mkdir(mode=0o755, exist_ok=True)
        elif node.kind == "file":
            target.write_bytes(node.data)
            os.chmod(target, node.mode & 0o7777)
        elif node.kind == "symlink":
            os.symlink(node.data.decode(), target)
