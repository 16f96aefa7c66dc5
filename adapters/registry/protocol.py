"""What the image service may rely on from a registry: the `Registry` Protocol.

The real one is client.py's `RegistryClient` (OCI Distribution over HTTP);
tests/fakes/registry.py keeps the same promises in memory, and
tests/contracts/test_registry_contract.py holds both to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from berth.domain.reference import ImageReference

from .manifests import ImageManifest, LayerDescriptor
from .progress import ProgressCallback

LayerReady = Callable[[LayerDescriptor], None]


@dataclass(frozen=True)
class PulledImage:
    """What a pull produced; the config and layer blobs are in the content store.

    `manifest_digest` is the image manifest's (for the platform picked out of an index,
    if there was one); `repo_digest` names what the reference resolved to, i.e. the
    index's digest when the tag points at an index, which is what dockerd shows as
    `Digest:` and records in RepoDigests. `index_digest` is that index's digest or None.
    """

    reference: ImageReference
    manifest_digest: str
    manifest_media_type: str
    config_digest: str
    config: dict[str, Any]
    config_bytes: bytes
    layers: list[LayerDescriptor]
    repo_digest: str
    index_digest: str | None = None

    @classmethod
    def resolved(
        cls,
        ref: ImageReference,
        manifest: ImageManifest,
        manifest_digest: str,
        config_bytes: bytes,
        config: dict[str, Any],
        *,
        index_digest: str | None,
    ) -> PulledImage:
        """What `ref` resolved to: an image manifest (out of the index `index_digest`)."""
        return cls(
            reference=ref,
            manifest_digest=manifest_digest,
            manifest_media_type=manifest.media_type,
            config_digest=manifest.config.digest,
            config=config,
            config_bytes=config_bytes,
            layers=[LayerDescriptor(d.digest, d.size, d.media_type) for d in manifest.layers],
            repo_digest=f"{ref.repository}@{index_digest or manifest_digest}",
            index_digest=index_digest,
        )


class Registry(Protocol):
    """Images pulled into a content store (`content.Blobs`), verified on the way.

    Nothing unverified ever becomes a blob: a manifest, config or layer whose bytes do
    not match their digest or size is `DigestMismatch`. A reference the registry does
    not have is `NotFound` (404) in dockerd's words ("manifest for busybox:nope not
    found: ..."); a registry that cannot be reached, or answers 5xx or 429, is
    `Unavailable` (503). Messages never contain a credential or a token.
    """

    async def resolve(
        self, ref: ImageReference, progress: ProgressCallback | None = None
    ) -> PulledImage:
        """Fetch and verify `ref`'s manifest (linux/amd64 out of an index) and config;
        both are in the content store afterwards, the layers not yet. Progress messages
        say "Pulling from <repository path>"."""
        ...

    async def fetch_layers(
        self,
        image: PulledImage,
        progress: ProgressCallback | None = None,
        on_layer: LayerReady | None = None,
    ) -> None:
        """Every layer blob of `image` in the content store, verified. `on_layer` is
        called once per distinct blob as it becomes available (downloaded, or already
        there), so a caller can unpack one layer while others still download. On a
        failure the first error is raised, and what was downloaded whole stays."""
        ...
