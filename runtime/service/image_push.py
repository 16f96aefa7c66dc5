"""`docker push`: a local image's blobs and a manifest for it, to its registry.

The manifest pushed is the one the image was pulled with when the content store still
holds it (so the digest a signature names survives a pull and push); otherwise one is
written: Docker's schema 2 when every layer has a Docker media type, OCI's otherwise
(an uncompressed layer has no Docker type). Nothing is recorded: a push changes the
registry, not the engine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import trio

from berth.adapters.registry import RegistryClient, progress_message
from berth.adapters.registry.manifests import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    MAX_CONFIG_SIZE,
    MAX_MANIFEST_SIZE,
    OCI_CONFIG,
    OCI_MANIFEST,
    ImageManifest,
    parse_document,
)
from berth.adapters.registry.push import PushBlob
from berth.domain.errors import NotFound
from berth.domain.image import Image
from berth.domain.reference import ImageReference, parse_reference
from berth.domain.registry_auth import RegistryAuth

from .images import ImageService
from .registry_access import client_with

Progress = Callable[[dict[str, Any]], None]
_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
_OCI_FOR_DOCKER = {_DOCKER_LAYER + ".gzip": _OCI_LAYER + "+gzip", _DOCKER_LAYER: _OCI_LAYER}


class ImagePush:
    """Pushes of one engine's images."""

    def __init__(self, images: ImageService) -> None:
        self.images = images

    def tags_to_push(self, name: str, tag: str) -> list[ImageReference]:
        """`name:tag`, or every local tag of the repository `name` when `tag` is empty."""
        repository = parse_reference(name)
        if not tag and ":" in name.rpartition("/")[2]:
            tag = repository.tag or ""  # `name:tag` in the path, as dockerd reads it
        if tag:
            return [parse_reference(f"{repository.repository}:{tag}")]
        found = [
            parse_reference(t) for row in self.images.engine.images.live_rows() for t in row["tags"]
        ]
        refs = sorted({r for r in found if r.repository == repository.repository}, key=str)
        if not refs:
            raise NotFound(
                f"An image does not exist locally with the tag: {repository.familiar_name}"
            )
        return refs

    async def push(
        self, name: str, tag: str, auth: RegistryAuth | None, progress: Progress
    ) -> None:
        refs = await trio.to_thread.run_sync(self.tags_to_push, name, tag)
        progress(progress_message(f"The push refers to repository [{refs[0].repository}]"))
        async with client_with(self.images.registry, auth, refs[0]) as client:
            for ref in refs:
                await self._push_one(client, ref, progress)

    async def _push_one(
        self, client: RegistryClient, ref: ImageReference, progress: Progress
    ) -> None:
        records = self.images.engine.images
        try:
            image_id = await trio.to_thread.run_sync(records.resolve, str(ref))
        except NotFound:
            raise NotFound(
                f"An image does not exist locally with the tag: {ref.familiar_name}"
            ) from None
        image = records.aggregate(image_id)
        if image is None:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        config_size = len(self.images.content.read_bytes(image_id, MAX_CONFIG_SIZE))
        manifest, media_type = self.manifest_for(image_id, image, config_size)
        layers: dict[str, PushBlob] = {}
        for layer in reversed(image.layers):  # dockerd lists the top layer first
            label = str(layer["diff_id"]).partition(":")[2][:12]
            digest = str(layer["digest"])
            layers.setdefault(digest, PushBlob(digest, int(layer["size"]), label))
        config = PushBlob(image_id, config_size)
        tag = ref.tag or "latest"
        pushed = await client.uploads(ref).push(
            [*layers.values(), config],
            manifest,
            media_type,
            tag,
            progress,
            _mount_source(image, ref),
        )
        progress(progress_message(f"{tag}: digest: {pushed.digest} size: {pushed.size}"))
        progress(
            {
                "progressDetail": {},
                "aux": {"Tag": tag, "Digest": pushed.digest, "Size": pushed.size},
            }
        )

    def manifest_for(self, image_id: str, image: Image, config_size: int) -> tuple[bytes, str]:
        """The manifest to push: the pulled one if kept and still this image's, else new."""
        content = self.images.content
        if image.manifest_digest and content.has(image.manifest_digest):
            body = content.read_bytes(image.manifest_digest, MAX_MANIFEST_SIZE)
            document = parse_document(body, None)
            if isinstance(document, ImageManifest) and document.config.digest == image_id:
                return body, document.media_type
        layer_types = [str(layer["media_type"]) for layer in image.layers]
        docker = all(t.startswith("application/vnd.docker.") for t in layer_types)
        config = {
            "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
            "size": config_size,
            "digest": image_id,
        }
        layers = [
            {
                "mediaType": t if docker else _OCI_FOR_DOCKER.get(t, t),
                "size": int(layer["size"]),
                "digest": str(layer["digest"]),
            }
            for t, layer in zip(layer_types, image.layers, strict=True)
        ]
        media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
        document_out = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": config,
            "layers": layers,
        }
        return json.dumps(document_out, indent=3).encode(), media_type


def _mount_source(image: Image, target: ImageReference) -> str | None:
    """Another repository of the same registry that has the image (it came from there)."""
    for known in [*image.repo_digests, *image.tags]:
        ref = parse_reference(known)
        if ref.domain == target.domain and ref.path != target.path:
            return ref.path
    return None
