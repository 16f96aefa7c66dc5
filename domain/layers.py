"""Layer unpack policy: tar entry headers in, filesystem actions out (sans-IO).

Theory of operation
-------------------
An image layer is an untrusted tar stream. The adapter parses it into normalised `Entry`
headers and feeds them, one at a time and in archive order, to a `LayerPlanner`, the way
h11 is fed bytes. For each entry the planner either raises `LayerRejected` (the whole
layer is refused) or returns the actions that carry it out: `MakeDir`, `WriteFile`,
`Symlink`, `Hardlink`, `MakeDevice`, `Whiteout`, `OpaqueDir`, `Remove` (an earlier entry
at the same path is replaced) or `Skip`. After the last entry, `finish()` returns the
deferred `SetDirMetadata` actions, applied after everything else as tar does, so that a
restrictive directory mode never gets in the way of a later entry.

The layer is always unpacked into a new, empty directory, so every path that exists
there came through this planner. It keeps that tree (kind of every node) and can
therefore decide everything without looking at the filesystem:

* names are cleaned lexically (leading `/` and `./` stripped, `//` and `.` collapsed);
  a `..` that climbs above the layer root, a NUL, a component over 255 bytes or a path
  over 4096 bytes rejects the layer;
* every parent of an entry must be a directory of this layer (missing ones are created
  by explicit `MakeDir(implicit=True)` actions); a parent that is a symlink or any other
  non-directory rejects the layer, so a symlink is never followed, whatever it targets;
* symlink targets are data: kept verbatim, absolute or not, never resolved;
* a hardlink target is cleaned like a name and must be a non-directory already
  unpacked from this layer, reached through directories only; a hardlink to a symlink
  links the symlink itself; hardlinks carry no metadata of their own;
* duplicates: the later entry wins; an existing node is removed (`Remove`) unless old
  and new are both directories, which merge;
* OCI whiteouts: `.wh.<name>` becomes `Whiteout(dir/<name>)` (an overlayfs 0/0 char
  device), `.wh..wh..opq` becomes `OpaqueDir(dir)`; neither marker is ever written. A
  whiteout must name a child of its own directory (`.wh.`, `.wh..`, `.wh...` reject). A
  whiteout for a path unpacked from this same layer is skipped: per the OCI spec it
  applies only to lower layers, and the path already hides them. Other `.wh..wh.`
  names are AUFS metadata and are skipped; a `.wh.` name used as a directory rejects;
* budgets (`LayerLimits`): total bytes and number of filesystem objects (entries plus
  implicitly created directories);
* setuid/setgid/sticky bits, ownership and device nodes are kept (root engine;
  `keep_devices=False` drops char and block devices). Extended attributes are kept
  except the engine-reserved `trusted.overlay.*`, which overlayfs would interpret.
"""

from __future__ import annotations

import enum

from .layer_entries import (
    DEFAULT_LIMITS,
    IMPLICIT_DIR_MODE,
    WHITEOUT_META_PREFIX,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
    Action,
    Entry,
    EntryType,
    Hardlink,
    LayerLimits,
    LayerRejected,
    MakeDevice,
    MakeDir,
    OpaqueDir,
    Remove,
    SetDirMetadata,
    Skip,
    Symlink,
    Whiteout,
    WriteFile,
    check_device,
    check_numbers,
    check_symlink_target,
    clamp_ns,
    clean_path,
    join_path,
    kept_xattrs,
    split_path,
)

# -- the tree of what this layer has unpacked ------------------------------------------


class _Kind(enum.Enum):
    DIR = "dir"
    SYMLINK = "symlink"
    WHITEOUT = "whiteout"
    OTHER = "other"  # regular file, device node, fifo


class _Node:
    __slots__ = ("children", "kind", "meta")

    def __init__(self, kind: _Kind, meta: SetDirMetadata | None = None) -> None:
        self.kind = kind
        self.children: dict[str, _Node] | None = {} if kind is _Kind.DIR else None
        self.meta = meta


_KIND_OF = {
    EntryType.FILE: _Kind.OTHER,
    EntryType.CHAR: _Kind.OTHER,
    EntryType.BLOCK: _Kind.OTHER,
    EntryType.FIFO: _Kind.OTHER,
    EntryType.SYMLINK: _Kind.SYMLINK,
    EntryType.DIR: _Kind.DIR,
}


class LayerPlanner:
    """Decides, entry by entry, what unpacking a layer does. Pure: no I/O."""

    def __init__(self, limits: LayerLimits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._root = _Node(_Kind.DIR)
        self._entries = 0
        self._implicit = 0
        self._bytes = 0

    @property
    def entries(self) -> int:
        """Entries fed so far."""
        return self._entries

    # -- feeding ------------------------------------------------------------------------

    def feed(self, entry: Entry) -> tuple[Action, ...]:
        self._entries += 1
        self._check_budget(entry.name)
        check_numbers(entry)
        self._bytes += entry.size
        if self._bytes > self._limits.max_bytes:
            raise LayerRejected(f"layer content exceeds {self._limits.max_bytes} bytes", entry.name)
        parts = split_path(clean_path(entry.name))
        for component in parts[:-1]:
            if component.startswith(WHITEOUT_PREFIX):
                raise LayerRejected("whiteout marker used as a directory", entry.name)
        if parts and parts[-1].startswith(WHITEOUT_PREFIX):
            return self._whiteout(entry, parts)
        if entry.type is EntryType.HARDLINK:
            return self._hardlink(entry, parts)
        if not parts and entry.type is not EntryType.DIR:
            raise LayerRejected("a non-directory cannot replace the layer root", entry.name)
        if entry.type in (EntryType.CHAR, EntryType.BLOCK) and not self._limits.keep_devices:
            return (Skip(f"{entry.name}: device nodes are not kept"),)
        return self._create(entry, parts)

    def finish(self) -> tuple[SetDirMetadata, ...]:
        """Deferred directory metadata, for every directory that is still there."""
        root = self._root.meta or SetDirMetadata("", IMPLICIT_DIR_MODE, None, None, None)
        out = [root]
        stack: list[tuple[list[str], _Node]] = [([], self._root)]
        while stack:
            prefix, node = stack.pop()
            for name, child in (node.children or {}).items():
                if child.kind is not _Kind.DIR:
                    continue
                path = [*prefix, name]
                meta = child.meta or SetDirMetadata(
                    join_path(path), IMPLICIT_DIR_MODE, None, None, None
                )
                out.append(meta)
                stack.append((path, child))
        return tuple(out)

    # -- helpers ------------------------------------------------------------------------

    def _check_budget(self, name: str) -> None:
        if self._entries + self._implicit > self._limits.max_entries:
            raise LayerRejected(f"layer has more than {self._limits.max_entries} entries", name)

    def _parent(self, entry: Entry, dir_parts: list[str], actions: list[Action]) -> _Node:
        """The directory node at `dir_parts`, creating missing directories."""
        node = self._root
        for depth, component in enumerate(dir_parts):
            assert node.children is not None
            child = node.children.get(component)
            if child is None:
                self._implicit += 1
                self._check_budget(entry.name)
                child = _Node(_Kind.DIR)
                node.children[component] = child
                actions.append(MakeDir(join_path(dir_parts[: depth + 1]), implicit=True))
            elif child.kind is _Kind.SYMLINK:
                where = join_path(dir_parts[: depth + 1])
                raise LayerRejected(f"parent {where!r} is a symlink", entry.name)
            elif child.kind is not _Kind.DIR:
                where = join_path(dir_parts[: depth + 1])
                raise LayerRejected(f"parent {where!r} is not a directory", entry.name)
            node = child
        return node

    def _lookup(self, entry: Entry, parts: list[str]) -> _Node | None:
        """The node at `parts` reached through directories only, or None if absent."""
        node = self._root
        for depth, component in enumerate(parts):
            if node.kind is not _Kind.DIR:
                where = join_path(parts[:depth])
                kind = "a symlink" if node.kind is _Kind.SYMLINK else "not a directory"
                raise LayerRejected(f"hardlink target passes through {where!r}, {kind}", entry.name)
            assert node.children is not None
            found = node.children.get(component)
            if found is None:
                return None
            node = found
        return node

    def _replace(self, parent: _Node, parts: list[str], new_kind: _Kind) -> list[Action]:
        assert parent.children is not None
        existing = parent.children.get(parts[-1])
        if existing is None:
            return []
        if existing.kind is _Kind.DIR and new_kind is _Kind.DIR:
            return []
        del parent.children[parts[-1]]
        return [Remove(join_path(parts))]

    def _create(self, entry: Entry, parts: list[str]) -> tuple[Action, ...]:
        kind = _KIND_OF[entry.type]
        path = join_path(parts)
        mode = entry.mode & 0o7777
        mtime = clamp_ns(entry.mtime_ns)
        xattrs = kept_xattrs(entry)
        if entry.type is EntryType.SYMLINK:
            check_symlink_target(entry)
        if entry.type in (EntryType.CHAR, EntryType.BLOCK):
            check_device(entry)
        actions: list[Action] = []
        if not parts:  # the root directory itself: metadata only
            self._root.meta = SetDirMetadata("", mode, entry.uid, entry.gid, mtime)
            return (MakeDir("", xattrs=xattrs),)
        parent = self._parent(entry, parts[:-1], actions)
        actions.extend(self._replace(parent, parts, kind))
        assert parent.children is not None
        meta = SetDirMetadata(path, mode, entry.uid, entry.gid, mtime)
        if entry.type is EntryType.DIR:
            node = parent.children.get(parts[-1])
            if node is None:
                parent.children[parts[-1]] = _Node(_Kind.DIR, meta)
            else:
                node.meta = meta
            actions.append(MakeDir(path, xattrs=xattrs))
            return tuple(actions)
        parent.children[parts[-1]] = _Node(kind)
        if entry.type is EntryType.FILE:
            actions.append(WriteFile(path, entry.size, mode, entry.uid, entry.gid, mtime, xattrs))
        elif entry.type is EntryType.SYMLINK:
            actions.append(Symlink(path, entry.linkname, entry.uid, entry.gid, mtime))
        else:
            major, minor = (
                (0, 0) if entry.type is EntryType.FIFO else (entry.devmajor, entry.devminor)
            )
            actions.append(
                MakeDevice(path, entry.type, mode, entry.uid, entry.gid, major, minor, mtime)
            )
        return tuple(actions)

    def _hardlink(self, entry: Entry, parts: list[str]) -> tuple[Action, ...]:
        target = split_path(clean_path(entry.linkname, what="hardlink target", entry=entry.name))
        if not parts:
            raise LayerRejected("a hardlink cannot replace the layer root", entry.name)
        if not target:
            raise LayerRejected("hardlink to the layer root", entry.name)
        node = self._lookup(entry, target)
        if node is None:
            raise LayerRejected(
                f"hardlink target {join_path(target)!r} was not unpacked from this layer",
                entry.name,
            )
        if node.kind is _Kind.DIR:
            raise LayerRejected("hardlink to a directory", entry.name)
        if node.kind is _Kind.WHITEOUT:
            raise LayerRejected("hardlink to a whiteout", entry.name)
        if target == parts:
            return (Skip(f"{entry.name}: hardlink to itself"),)
        actions: list[Action] = []
        parent = self._parent(entry, parts[:-1], actions)
        actions.extend(self._replace(parent, parts, node.kind))
        if self._lookup(entry, target) is not node:
            raise LayerRejected("hardlink target is removed by this entry", entry.name)
        assert parent.children is not None
        parent.children[parts[-1]] = _Node(node.kind)
        actions.append(Hardlink(join_path(parts), join_path(target)))
        return tuple(actions)

    def _whiteout(self, entry: Entry, parts: list[str]) -> tuple[Action, ...]:
        base = parts[-1]
        dir_parts = parts[:-1]
        if base == WHITEOUT_OPAQUE:
            if not dir_parts:
                return (Skip(f"{entry.name}: opaque marker at the layer root"),)
            actions: list[Action] = []
            self._parent(entry, dir_parts, actions)
            actions.append(OpaqueDir(join_path(dir_parts)))
            return tuple(actions)
        if base.startswith(WHITEOUT_META_PREFIX):
            return (Skip(f"{entry.name}: AUFS metadata"),)
        hidden = base[len(WHITEOUT_PREFIX) :]
        if hidden in ("", ".", ".."):
            raise LayerRejected("whiteout does not name a child of its directory", entry.name)
        actions = []
        parent = self._parent(entry, dir_parts, actions)
        assert parent.children is not None
        path = join_path([*dir_parts, hidden])
        if hidden in parent.children:
            actions.append(
                Skip(f"{entry.name}: {path!r} comes from this layer, which already hides it")
            )
            return tuple(actions)
        parent.children[hidden] = _Node(_Kind.WHITEOUT)
        actions.append(Whiteout(path))
        return tuple(actions)
