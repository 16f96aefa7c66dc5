"""The image service: pull, load, import, remove and garbage-collect images.

Blobs go to the content store and layers to the snapshot store first, verified; the
image is recorded (one event) only once all of it is in place. A failed pull, load or
import therefore records nothing. Layers are shared between images by chain id.

Garbage collection and image writers exclude each other with an flock on
`images.lock`: writers hold it shared while they add blobs and layers not yet referenced
by any recorded image, collection holds it exclusively.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from berth.adapters.content import Blobs, ContentStore
from berth.adapters.registry import (
    LayerDescriptor,
    PulledImage,
    Registry,
    RegistryClient,
    progress_message,
    short_id,
)
from berth.adapters.snapshots.overlay import SnapshotStore
from berth.adapters.snapshots.protocol import Snapshots
from berth.adapters.snapshots.unpack import UnpackResult
from berth.domain.cause import Actor
from berth.domain.errors import InvalidParameter
from berth.domain.image import chain_ids, layer_chain
from berth.domain.reference import parse_reference
from berth.domain.registry_auth import RegistryAuth

from .engine import Engine
from .faults import crash_point
from .image_archives import LAYER_TAR, Layer, read_archive, store_file
from .nursery_errors import unwrap_errors
from .registry_access import registry_with
from .trust import TrustGate

Progress = Callable[[dict[str, Any]], None]
UNPACK_PARALLEL = 2


def _ignore(_: dict[str, Any]) -> None:
    pass


@dataclass
class Collected:
    blobs: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    layer_bytes: int = 0  # the layers' unpacked size: dockerd's SpaceReclaimed


class ImageService:
    """Images for one engine root: `content/` blobs and `snapshots/` layers."""

    def __init__(
        self,
        engine: Engine,
        registry: Registry | None = None,
        *,
        content: Blobs | None = None,
        snapshots: Snapshots | None = None,
    ) -> None:
        self.engine = engine
        self.content = content or ContentStore(engine.root / "content")
        self.snapshots = snapshots or SnapshotStore(engine.root / "snapshots")
        self.registry = registry or RegistryClient(self.content)
        self._lock_path = engine.root / "images.lock"
        self.trust = TrustGate(engine, None)

    # Locking -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self, mode: int) -> AsyncIterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            await trio.to_thread.run_sync(fcntl.flock, fd, mode, abandon_on_cancel=False)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # Pull ----------------------------------------------------------------------------------

    async def pull(
        self,
        ref_text: str,
        actor: Actor,
        progress: Progress | None = None,
        auth: RegistryAuth | None = None,
    ) -> str:
        """`docker pull`; answers the image id. `auth`: the request's credentials."""
        emit = progress or _ignore
        ref = parse_reference(ref_text)
        async with self._locked(fcntl.LOCK_SH), registry_with(self.registry, auth, ref) as registry:
            pulled = await registry.resolve(ref, emit)
            digest = pulled.repo_digest.rpartition("@")[2]
            trusted = await self.trust.check(registry, ref, digest, actor, "pull")
            layers = _pulled_layers(pulled)
            await self._fetch_and_unpack(registry, pulled, layers, emit)
            size = sum(self.snapshot_size(c) for c in chain_ids([la.diff_id for la in layers]))
            new = await trio.to_thread.run_sync(
                lambda: self.engine.images.record_pulled(
                    pulled.config_digest,
                    str(ref),
                    pulled.repo_digest,
                    pulled.manifest_digest,
                    pulled.config,
                    [layer.record() for layer in layers],
                    size,
                    actor,
                    trusted,
                )
            )
            crash_point("pull.recorded")
        emit(progress_message(f"Digest: {pulled.repo_digest.rpartition('@')[2]}"))
        status = "Downloaded newer image for" if new else "Image is up to date for"
        emit(progress_message(f"Status: {status} {ref.familiar}"))
        return pulled.config_digest

    def snapshot_size(self, chain_id: str) -> int:
        return self.snapshots.layer_size(chain_id)

    async def _fetch_and_unpack(
        self, registry: Registry, pulled: PulledImage, layers: list[Layer], emit: Progress
    ) -> None:
        """Download the layers and unpack each as soon as its blob is verified."""
        # One blob can stand at several positions (empty layers repeat): each position
        # has its own chain id and gets its own layer directory.
        positions: dict[str, list[tuple[Layer, str]]] = {}
        for layer, chain_id in zip(layers, chain_ids([la.diff_id for la in layers]), strict=True):
            positions.setdefault(layer.digest, []).append((layer, chain_id))
        limiter = trio.CapacityLimiter(UNPACK_PARALLEL)
        with unwrap_errors():
            async with trio.open_nursery() as nursery:

                def blob_ready(descriptor: LayerDescriptor) -> None:
                    for layer, chain_id in positions.get(descriptor.digest, []):
                        if not self.snapshots.has_layer(chain_id):
                            nursery.start_soon(self._unpack_one, layer, chain_id, limiter, emit)

                await registry.fetch_layers(pulled, emit, blob_ready)

    async def _unpack_all(self, layers: list[Layer], emit: Progress) -> None:
        chain = chain_ids([layer.diff_id for layer in layers])
        limiter = trio.CapacityLimiter(UNPACK_PARALLEL)
        with unwrap_errors():
            async with trio.open_nursery() as nursery:
                for layer, chain_id in zip(layers, chain, strict=True):
                    if self.snapshots.has_layer(chain_id):
                        continue
                    nursery.start_soon(self._unpack_one, layer, chain_id, limiter, emit)

    async def _unpack_one(
        self, layer: Layer, chain_id: str, limiter: trio.CapacityLimiter, emit: Progress
    ) -> None:
        layer_id = short_id(layer.digest)
        emit(progress_message("Extracting", layer_id, 0, layer.size))
        target = self.snapshots.new_unpack_dir()
        try:
            result = await trio.to_thread.run_sync(
                self._unpack_blob, layer.digest, target, limiter=limiter
            )
            if result.diff_id != layer.diff_id:
                raise InvalidParameter(
                    f"failed to register layer: layer {layer.digest} has diff id "
                    f"{result.diff_id}, but the image config says {layer.diff_id}"
                )
            self.snapshots.commit_layer(chain_id, target, result.size)
            crash_point("pull.layer_stored")
        except BaseException:
            # Also on cancellation (another layer failed): leave no half-unpacked layer.
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self.snapshots.discard_unpack, target)
            raise
        emit(progress_message("Extracting", layer_id, layer.size, layer.size))
        emit(progress_message("Pull complete", layer_id))

    def _unpack_blob(self, digest: str, target: Path) -> UnpackResult:
        """Unpack a stored layer blob into `target` (blocking: a worker thread's)."""
        with self.content.open(digest) as blob:
            return self.snapshots.unpack(blob, target)

    # Load and import --------------------------------------------------------------------------

    async def load(
        self, archive: Path, actor: Actor, progress: Progress | None = None
    ) -> list[str]:
        """`docker load`: a `docker save` archive or an OCI layout tar. Answers what loaded."""
        emit = progress or _ignore
        async with self._locked(fcntl.LOCK_SH):
            images = await trio.to_thread.run_sync(read_archive, archive, self.content)
            loaded: list[str] = []
            for config_bytes, layers, tags in images:
                await self._unpack_all(layers, emit)
                image_id = await self._record_loaded(config_bytes, layers, tags, actor, "load")
                loaded.extend(f"Loaded image: {parse_reference(t).familiar}" for t in tags)
                if not tags:
                    loaded.append(f"Loaded image ID: {image_id}")
        return loaded

    async def import_rootfs(
        self,
        tarball: Path,
        reference: str | None,
        actor: Actor,
        message: str = "",
        image_config: dict[str, Any] | None = None,
    ) -> str:
        """`docker import`: a root filesystem tarball as a one-layer image, with the
        `image_config` of its `--change`s; answers its id."""
        tags = [str(parse_reference(reference))] if reference else []
        async with self._locked(fcntl.LOCK_SH):
            digest, size = await trio.to_thread.run_sync(store_file, tarball, self.content)
            target = self.snapshots.new_unpack_dir()
            result = await trio.to_thread.run_sync(self._unpack_blob, digest, target)
            layer = Layer(digest, size, LAYER_TAR, result.diff_id)
            chain_id = chain_ids([result.diff_id])[0]
            self.snapshots.commit_layer(chain_id, target, result.size)
            created = self.engine.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            config = {
                "architecture": "amd64",
                "os": "linux",
                "created": created,
                "config": image_config or {},
                "rootfs": {"type": "layers", "diff_ids": [result.diff_id]},
                "history": [{"created": created, "comment": message or "Imported from -"}],
            }
            config_bytes = json.dumps(config, separators=(",", ":")).encode()
            return await self._record_loaded(config_bytes, [layer], tags, actor, "import")

    async def record_commit(
        self,
        parent_id: str,
        config: dict[str, Any],
        layer_tar: Path | None,
        tags: list[str],
        actor: Actor,
    ) -> str:
        """`docker commit`: the parent image's layers plus `layer_tar` (an uncompressed
        layer, so its digest is its diff id), stored and unpacked as a load's; answers
        the new image's id. `config` already names the new layer in its root filesystem."""
        parent = self.engine.images.aggregate(parent_id)
        if parent is None:
            raise InvalidParameter(f"No such image: {parent_id}")
        layers = [
            Layer(str(la["digest"]), int(la["size"]), str(la["media_type"]), str(la["diff_id"]))
            for la in parent.layers
        ]
        async with self._locked(fcntl.LOCK_SH):
            if layer_tar is not None:
                digest, size = await trio.to_thread.run_sync(store_file, layer_tar, self.content)
                layers.append(Layer(digest, size, LAYER_TAR, digest))
                await self._unpack_all(layers, _ignore)
            config_bytes = json.dumps(config, separators=(",", ":")).encode()
            return await self._record_loaded(config_bytes, layers, tags, actor, "commit")

    async def _record_loaded(
        self, config_bytes: bytes, layers: list[Layer], tags: list[str], actor: Actor, source: str
    ) -> str:
        image_id = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        self.content.write_bytes(image_id, config_bytes)
        config = json.loads(config_bytes)
        size = sum(self.snapshot_size(c) for c in chain_ids([la.diff_id for la in layers]))
        await trio.to_thread.run_sync(
            lambda: self.engine.images.record_loaded(
                image_id, config, [la.record() for la in layers], size, tags, actor, source
            )
        )
        return image_id

    # Remove and collect ----------------------------------------------------------------------

    async def remove(self, ref: str, actor: Actor, force: bool = False) -> list[dict[str, str]]:
        """`docker rmi`, then garbage collection of what no image needs any more."""
        answer = await trio.to_thread.run_sync(self.engine.images.remove, ref, actor, force)
        await self.collect_garbage()
        return answer

    async def discard_partial(self) -> list[str]:
        """What a pull or load cut short by a crash left behind, removed; for reconcile,
        which runs before anything pulls."""
        async with self._locked(fcntl.LOCK_EX):
            return await trio.to_thread.run_sync(
                lambda: self.content.discard_partial() + self.snapshots.discard_partial()
            )

    async def collect_garbage(self) -> Collected:
        """Delete blobs and layers no recorded image (or container's image) refers to."""
        async with self._locked(fcntl.LOCK_EX):
            keep_blobs, keep_layers = await trio.to_thread.run_sync(self._referenced)
            collected = Collected()
            for digest in self.content.digests():
                if digest not in keep_blobs:
                    self.content.delete(digest)
                    collected.blobs.append(digest)
            for chain_id in self.snapshots.layers():
                if chain_id not in keep_layers:
                    collected.layer_bytes += self.snapshots.layer_size(chain_id)
                    await trio.to_thread.run_sync(self.snapshots.remove_layer, chain_id)
                    collected.layers.append(chain_id)
            return collected

    def _referenced(self) -> tuple[set[str], set[str]]:
        image_ids = {row["id"] for row in self.engine.images.live_rows()}
        image_ids |= {
            row["doc"]["Image"] for row in self.engine.views.container_rows()
        }  # a forced rmi leaves the containers' image layers in place
        blobs: set[str] = set()
        layers: set[str] = set()
        for image_id in image_ids:
            image = self.engine.images.aggregate(image_id)
            if image is None:
                continue
            blobs.add(image_id)
            if image.manifest_digest:
                blobs.add(image.manifest_digest)
            blobs.update(str(layer["digest"]) for layer in image.layers)
            layers.update(layer_chain(image.layers))
        return blobs, layers

    # Root filesystems ------------------------------------------------------------------------

    def image_chain(self, image_id: str) -> list[str]:
        image = self.engine.images.aggregate(image_id)
        if image is None:
            raise InvalidParameter(f"No such image: {image_id}")
        return layer_chain(image.layers)

    async def mount_rootfs(self, container_id: str, image_id: str) -> Path:
        """The container's root filesystem: the image's layers under a writable layer."""
        chain = await trio.to_thread.run_sync(self.image_chain, image_id)
        return await self.snapshots.prepare(container_id, chain)

    async def unmount_rootfs(self, container_id: str) -> None:
        await self.snapshots.release(container_id)


def _pulled_layers(pulled: PulledImage) -> list[Layer]:
    diff_ids = pulled.config["rootfs"]["diff_ids"]
    return [
        Layer(d.digest, d.size, d.media_type, str(diff_id))
        for d, diff_id in zip(pulled.layers, diff_ids, strict=True)
    ]
