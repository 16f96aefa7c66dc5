"""Files in and out of a container: `docker cp` (archive stat, get, put), `docker
export`, `docker diff` — on the host side of its root filesystem (ADR/0030).

The root filesystem is the overlay mount the container was prepared with, which stays
mounted from create to rm; one that is not (after a host reboot) is mounted again, as
dockerd mounts a stopped container's for these calls. The same tree is what a running
container sees outside its mounts. Each call holds the container's lock while it reads
or writes, as dockerd holds its container lock, so an exit or an rm waits for the copy
rather than unmounting under it. The adapters do the file work (adapters/snapshots:
container_files, tree_tar, extract, changes) in worker threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import trio

from berth.adapters.snapshots import container_files as files
from berth.adapters.snapshots.changes import layer_changes
from berth.adapters.snapshots.piece_source import Pieces
from berth.adapters.snapshots.protocol import LayerDirectories
from berth.adapters.snapshots.rootfs import read_in_root
from berth.adapters.snapshots.tree_tar import TarSink
from berth.domain.container import Container, ContainerState
from berth.domain.container_paths import clean_parts, mount_for
from berth.domain.errors import Conflict, InvalidParameter, NotFound
from berth.domain.spec.users import resolve_user

from .actions import ContainerActions
from .container_mounts import mount_points
from .images import ImageService
from .network_files import etc_files

Write = Callable[[bytes], Awaitable[None]]
T = TypeVar("T")


class TarOut(Protocol):
    """A reply body a worker thread writes a tar onto (`work(sink)`), straight to the
    client: memory stays bounded however large the tree; a client that goes away ends
    the writer."""

    def from_thread(self, work: Callable[[TarSink], None]) -> Awaitable[None]: ...


class Upload(Protocol):
    """An archive arriving as a request's body: `work(pieces)` runs in a worker thread,
    `pieces()` answering the next bytes (empty at the end)."""

    async def consume(self, work: Callable[[Pieces], T]) -> T: ...


CHUNK = 1 << 20
F_SETPIPE_SZ = 1031
GONE = (ContainerState.REMOVING, ContainerState.REMOVED)


def _missing(path: str, ref: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {ref}")


@contextlib.contextmanager
def _path_errors(path: str, ref: str) -> Any:
    try:
        yield
    except (FileNotFoundError, NotADirectoryError):
        raise _missing(path, ref) from None


class ContainerFiles:
    """The file verbs of one engine's containers."""

    def __init__(self, actions: ContainerActions, images: ImageService) -> None:
        self.actions = actions
        self.images = images

    @contextlib.asynccontextmanager
    async def rootfs(self, ref: str) -> AsyncIterator[tuple[Container, Path]]:
        """The container and its mounted root filesystem, its lock held."""
        engine = self.actions.engine
        container_id: str = await self.actions.sync(engine.resolve_container, ref)
        async with self.actions.locks.hold(container_id):
            container = await self.actions.load(container_id)
            if container.state in GONE or not container.prepared:
                raise Conflict(f"container {ref} has no root filesystem to copy from or to")
            yield container, await self.images.mount_rootfs(container.id, container.image_id)

    async def stat(self, ref: str, path: str) -> files.PathStat:
        return await self.archive(ref, path, None)

    async def archive(self, ref: str, path: str, out: TarOut | None) -> files.PathStat:
        """Stat the path, then (with `out`) stream its tar: `docker cp` out of it."""
        async with self.rootfs(ref) as (container, rootfs):
            engine_files = _engine_files(container, self.actions.container_dir(container.id))
            where = _located(container, rootfs, path, engine_files)
            with _path_errors(path, ref):
                found: files.PathStat = await trio.to_thread.run_sync(
                    files.stat_path, where.root, where.path, where.name
                )
                if out is not None:
                    below = _mounts_below(container, path, engine_files)
                    await out.from_thread(
                        lambda sink: files.archive_path(
                            where.root, where.path, sink, where.name, below
                        )
                    )
                return found

    async def export(self, ref: str, out: TarOut) -> None:
        async with self.rootfs(ref) as (_, root):
            await out.from_thread(lambda sink: files.export_tree(root, sink))

    async def extract(
        self, ref: str, path: str, archive: Upload, *, copy_uid_gid: bool, no_overwrite: bool
    ) -> None:
        """`docker cp` into the directory `path` of the container, the archive extracted
        as it arrives (refused whole, nothing written, unless all of it is accepted)."""
        async with self.rootfs(ref) as (container, rootfs):
            where = _located(container, rootfs, path)
            if not where.writable:
                raise InvalidParameter(where.read_only_reason)
            owner = None
            user = str((container.config or {}).get("User") or "")
            if copy_uid_gid and user:
                owner = await trio.to_thread.run_sync(_owner_in, rootfs, user)

            heap_dir = self.actions.engine.root / "tmp"

            def extract(pieces: Pieces) -> None:
                files.extract_to(
                    where.root, where.path, pieces, owner, no_overwrite, heap_dir=heap_dir
                )

            with _path_errors(path, ref):
                await archive.consume(extract)

    async def changes(self, ref: str) -> list[dict[str, object]] | None:
        """`docker diff`: None when nothing changed (dockerd's `null`)."""
        async with self.rootfs(ref) as (container, _):
            upper, lowers = await trio.to_thread.run_sync(self.layer_dirs, container)
            found = await trio.to_thread.run_sync(layer_changes, upper, lowers)
        return [change.doc() for change in found] or None

    def layer_dirs(self, container: Container) -> tuple[Path, list[Path]]:
        """The container's writable layer and its image's layers, top first."""
        store = self.images.snapshots
        if not isinstance(store, LayerDirectories):
            raise InvalidParameter("this snapshot store keeps no layer directories")
        chain = self.images.image_chain(container.image_id)
        return store.upper_dir(container.id), [store.layer_dir(c) for c in reversed(chain)]


@dataclass(frozen=True)
class _Location:
    """Where a container path is on the host: `path` inside `root` (the root filesystem,
    or a bind's or volume's source), shown as `name` when it is a mount's top."""

    root: Path
    path: str
    name: str | None = None
    writable: bool = True
    read_only_reason: str = ""


def _engine_files(container: Container, container_dir: Path) -> dict[str, Path]:
    """The files the engine binds over those of a container it has started (/etc/hosts,
    /etc/hostname, /etc/resolv.conf: network_files.py), by destination, unless the user
    mounted something there: a copy reads them as dockerd's reads its NetworkMounts."""
    mounted = {"/" + "/".join(clean_parts(p.destination)) for p in mount_points(container)}
    return {
        into: source
        for into, source in etc_files(container_dir).items()
        if into not in mounted and source.is_file()
    }


def _located(
    container: Container, rootfs: Path, path: str, engine_files: dict[str, Path] | None = None
) -> _Location:
    parts = clean_parts(path)
    source = (engine_files or {}).get("/" + "/".join(parts))
    if source is not None and not path.endswith("/."):
        return _Location(source.parent, source.name, parts[-1])
    found = mount_for(mount_points(container), path)
    if found is None:
        read_only = bool((container.host_config or {}).get("ReadonlyRootfs"))
        return _Location(rootfs, path, None, not read_only, "container rootfs is marked read-only")
    point, inner = found
    if point.type == "tmpfs" or not point.source:
        raise InvalidParameter(
            f"{point.destination} is a tmpfs mount of the container: berth does not copy "
            "files in or out of it"
        )
    trailing = "/." if path.endswith("/.") and not inner else ""
    name = None if inner or trailing else (clean_parts(path) or ["/"])[-1]
    root = Path(point.source)
    if not inner and not root.is_dir():  # a bind of a single file
        root, inner = root.parent, root.name
    return _Location(root, inner + trailing, name, point.rw, "mounted volume is marked read-only")


def _mounts_below(
    container: Container, path: str, engine_files: dict[str, Path]
) -> dict[str, Path]:
    """The binds, volumes and engine files mounted strictly below `path`, by their path
    relative to it: a copy of a directory holds what the container sees in them (tmpfs
    mounts, only in the container's namespace, are left as the root filesystem has them)."""
    top = clean_parts(path)
    sources = [
        (point.destination, Path(point.source))
        for point in mount_points(container)
        if point.source and point.type != "tmpfs"
    ]
    below = {}
    for destination, source in [*sources, *engine_files.items()]:
        parts = clean_parts(destination)
        if len(parts) > len(top) and parts[: len(top)] == top:
            below["/".join(parts[len(top) :])] = source
    return below


def _owner_in(root: Path, user: str) -> tuple[int, int]:
    """The container's configured user as uid and gid, looked up in its own files."""
    found = resolve_user(user, read_in_root(root, "etc/passwd"), read_in_root(root, "etc/group"))
    return found.uid, found.gid
