"""An in-memory `Registry`: images pushed by a test, pulled into a content store.

Images are the ones tests/fixtures/images.py builds for the real registry, pushed the
same way (`push(name, image, tag)`), and read the same way: manifests parsed, an index
resolved to linux/amd64, every blob checked against its digest before it is stored.
`corrupt()` serves a blob's bytes wrong, `down` makes the registry unreachable, and
`faults` arranges any other failure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

import trio

from berth.adapters.content import DIGEST_PATTERN, Blobs, DigestMismatch
from berth.adapters.registry import (
    LayerReady,
    PulledImage,
    progress_message,
    short_id,
)
from berth.adapters.registry.manifests import (
    ImageIndex,
    ImageManifest,
    parse_document,
    select_platform,
)
from berth.adapters.registry.progress import ProgressCallback
from berth.domain.errors import InvalidParameter, NotFound, Unavailable
from berth.domain.reference import ImageReference

from ..fixtures.images import Image, Index
from .faults import Faults

HOST = "registry.fake:5000"


def _ignore(message: dict[str, object]) -> None:
    return None


class FakeRegistry:
    def __init__(self, content: Blobs, host: str = HOST) -> None:
        self.content = content
        self.host = host
        self.faults = Faults()
        self.down = False
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}  # (name, tag or digest)
        self.blobs: dict[str, bytes] = {}
        self.served: dict[str, bytes] = {}  # what a corrupted blob is served as

    # -- what a test does -------------------------------------------------------------------

    def push(self, name: str, image: Image | Index, tag: str | None = "latest") -> str:
        images = image.images if isinstance(image, Index) else [image]
        for one in images:
            for blob in one.blobs():
                self.blobs[blob.digest] = blob.data
            self.manifests[(name, one.digest)] = (one.manifest.data, one.manifest.media_type)
        self.manifests[(name, image.digest)] = (image.manifest.data, image.manifest.media_type)
        if tag is not None:
            self.manifests[(name, tag)] = (image.manifest.data, image.manifest.media_type)
        return image.digest

    def corrupt(self, digest: str) -> None:
        """Serve the blob with its last byte changed."""
        data = self.blobs[digest]
        self.served[digest] = data[:-1] + bytes([data[-1] ^ 0xFF])

    # -- the Protocol -------------------------------------------------------------------------

    async def resolve(
        self, ref: ImageReference, progress: ProgressCallback | None = None
    ) -> PulledImage:
        emit = progress or _ignore
        if ref.digest is not None and not DIGEST_PATTERN.fullmatch(ref.digest):
            raise InvalidParameter(f"unsupported digest {ref.digest}: only sha256 is supported")
        await self._enter("resolve", ref)
        reference = ref.digest or ref.tag or "latest"
        top_digest, top = self._manifest(ref, reference)
        emit(progress_message(f"Pulling from {ref.path}", reference))
        digest, manifest, index_digest = top_digest, top, None
        if isinstance(top, ImageIndex):
            entry = select_platform(top)
            digest, manifest = self._manifest(ref, entry.digest)
            index_digest = top_digest
        assert isinstance(manifest, ImageManifest)
        config_bytes = self._blob(manifest.config.digest, manifest.config.size)
        await trio.to_thread.run_sync(
            self.content.write_bytes, manifest.config.digest, config_bytes
        )
        return PulledImage.resolved(
            ref, manifest, digest, config_bytes, json.loads(config_bytes), index_digest=index_digest
        )

    async def fetch_layers(
        self,
        image: PulledImage,
        progress: ProgressCallback | None = None,
        on_layer: LayerReady | None = None,
    ) -> None:
        emit = progress or _ignore
        await self._enter("fetch_layers", image.reference)
        for layer in {layer.digest: layer for layer in image.layers}.values():
            sid = short_id(layer.digest)
            if self.content.has(layer.digest):
                emit(progress_message("Already exists", sid))
            else:
                emit(progress_message("Pulling fs layer", sid))
                data = self.served.get(layer.digest, self.blobs.get(layer.digest))
                if data is None:
                    raise NotFound(f"blob {layer.digest} not found: blob unknown to registry")
                await self.content.ingest(layer.digest, layer.size, _chunks(data))
                emit(progress_message("Download complete", sid))
            if on_layer is not None:
                on_layer(layer)

    # -- inside ---------------------------------------------------------------------------

    async def _enter(self, method: str, ref: ImageReference) -> None:
        await trio.lowlevel.checkpoint()
        if self.down or ref.domain != self.host:
            raise Unavailable(
                f'Get "https://{ref.domain}/v2/": dial tcp {ref.domain}: connect: '
                "connection refused"
            )
        self.faults.check(method)

    def _manifest(
        self, ref: ImageReference, reference: str
    ) -> tuple[str, ImageManifest | ImageIndex]:
        found = self.manifests.get((ref.path, reference))
        if found is None:
            raise NotFound(
                f"manifest for {ref.familiar} not found: manifest unknown: manifest unknown"
            )
        body, media_type = found
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.content.write_bytes(digest, body)
        return digest, parse_document(body, media_type)

    def _blob(self, digest: str, size: int) -> bytes:
        data = self.served.get(digest, self.blobs.get(digest))
        if data is None:
            raise NotFound(f"blob {digest} not found: blob unknown to registry")
        if len(data) != size:
            raise DigestMismatch(f"unexpected size: expected {size}, got {len(data)}")
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise DigestMismatch(f"failed to verify digest: expected {digest}, got {actual}")
        return data


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
