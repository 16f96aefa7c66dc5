"""`GET /distribution/{name}/json` (docker-py's `inspect_distribution`): what a reference
names in its registry, without pulling it.

dockerd answers the descriptor of the manifest or index the reference resolves to, and
the platforms it offers: an index's entries', or the one its image config says.
"""

from __future__ import annotations

from typing import Any

import trio

from berth.adapters.registry import MAX_MANIFEST_SIZE
from berth.adapters.registry.manifests import ImageIndex, parse_document
from berth.domain.reference import parse_reference
from berth.domain.registry_auth import RegistryAuth

from .images import ImageService
from .registry_access import registry_with

# The image config's platform fields, named as an OCI platform names them.
_CONFIG_PLATFORM = (
    ("architecture", "architecture"),
    ("os", "os"),
    ("os.version", "os.version"),
    ("os.features", "os.features"),
    ("variant", "variant"),
)


async def inspect_distribution(
    images: ImageService, ref_text: str, auth: RegistryAuth | None
) -> dict[str, Any]:
    ref = parse_reference(ref_text)
    async with registry_with(images.registry, auth, ref) as registry:
        pulled = await registry.resolve(ref)
    top = pulled.index_digest or pulled.manifest_digest
    body = await trio.to_thread.run_sync(images.content.read_bytes, top, MAX_MANIFEST_SIZE)
    document = parse_document(body, None)
    if isinstance(document, ImageIndex):
        media_type = document.media_type
        platforms = [dict(entry.platform) for entry in document.manifests if entry.platform]
    else:
        media_type = pulled.manifest_media_type
        config = pulled.config
        platforms = [{key: config[field] for key, field in _CONFIG_PLATFORM if config.get(field)}]
    return {
        "Descriptor": {"mediaType": media_type, "digest": top, "size": len(body)},
        "Platforms": platforms,
    }
