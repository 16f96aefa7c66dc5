"""Docker's content-trust client flow: with `DOCKER_CONTENT_TRUST=1` (and no
`--disable-content-trust`), a tag is resolved to the digest the engine verified at pull,
and the container is created from `repository@digest`, so it records what it runs.

The engine enforces its signature policy whatever the client says; the client's part is
to pin the digest, so a tag moved between pull and create cannot change the image.
"""

from __future__ import annotations

import os
from typing import Any

from berth.domain.errors import NotFound
from berth.domain.reference import parse_reference

from .client.http import DaemonClient, segment

_TRUE = ("1", "t", "true", "yes")

def content_trust(disable: bool) -> bool:
    """Whether the client pins digests: DOCKER_CONTENT_TRUST=1 and no --disable-content-trust."""
    if disable:
        return False
    return os.environ.get("DOCKER_CONTENT_TRUST", "").strip().lower() in _TRUE


def is_tag(image: str) -> bool:
    """A reference by tag (not by digest, not an image id): one the flow resolves."""
    if "@" in image:
        return False
    hex_part = image.removeprefix("sha256:")
    return not (len(hex_part) >= 12 and all(c in "0123456789abcdef" for c in hex_part))


def pinned(client: DaemonClient, image: str) -> str:
    """`repository@digest` of the pulled `image`, as the engine recorded it."""
    inspected: dict[str, Any] = client.call("GET", f"/images/{segment(image)}/json")
    repository = parse_reference(image).repository
    for digest in inspected.get("RepoDigests") or []:
        if parse_reference(digest).repository == repository:
            return str(digest)
    raise NotFound(
        f"remote trust data does not exist for {image}: it was not pulled from its registry"
    )
