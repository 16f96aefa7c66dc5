"""`berth sign`: the engine's half. The client signs (its key never comes here); the
engine tells it which manifest digest a tag names in the registry, and stores the
signature beside the image in cosign's layout, after those already there."""

from __future__ import annotations

import hashlib
from typing import Any

from berth.adapters.registry.manifests import OCI_MANIFEST
from berth.adapters.registry.push import PushBlob
from berth.adapters.registry.signatures import Signature, signature_image, signature_tag
from berth.domain.errors import InvalidParameter
from berth.domain.reference import parse_reference
from berth.domain.registry_auth import RegistryAuth
from berth.domain.trust_policy import parse_payload

from .images import ImageService
from .registry_access import client_with


def _ignore(_: dict[str, Any]) -> None:
    return None


class ImageSign:
    def __init__(self, images: ImageService) -> None:
        self.images = images

    async def digest_to_sign(self, name: str, auth: RegistryAuth | None) -> dict[str, str]:
        """What `name` resolves to in its registry now: the digest a signature names."""
        ref = parse_reference(name)
        async with client_with(self.images.registry, auth, ref) as client:
            pulled = await client.resolve(ref)
        digest = pulled.repo_digest.rpartition("@")[2]
        return {"Repository": ref.repository, "Digest": digest}

    async def attach(
        self, name: str, payload: bytes, signature: bytes, auth: RegistryAuth | None
    ) -> dict[str, str]:
        """Store a signature of the manifest its payload names, beside `name`'s image."""
        ref = parse_reference(name)
        claim = parse_payload(payload)
        if claim.reference.repository != ref.repository:
            raise InvalidParameter(f"the payload names {claim.reference.repository}, not {name}")
        digest = claim.manifest_digest
        async with client_with(self.images.registry, auth, ref) as client:
            found = await client.signatures(ref, digest)
            new = Signature(payload, signature)
            signatures = [*(s for s in found if s != new), new]
            manifest, config = signature_image(signatures)
            blobs = []
            content = self.images.content
            for data in [*(s.payload for s in signatures), config]:
                blob = "sha256:" + hashlib.sha256(data).hexdigest()
                content.write_bytes(blob, data)
                blobs.append(PushBlob(blob, len(data)))
            tag = signature_tag(digest)
            pushed = await client.uploads(ref).push(blobs, manifest, OCI_MANIFEST, tag, _ignore)
        return {"Tag": tag, "Digest": pushed.digest, "Signatures": str(len(signatures))}
