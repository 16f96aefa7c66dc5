"""Pulling with the registry client in tests: a pull into a content store, what it must leave
there, and a scripted registry (FakeHTTPServer routes) serving one image."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from berth.adapters.content import ContentStore
from berth.adapters.registry import PulledImage, RegistryClient
from berth.domain.reference import parse_reference
from tests.fixtures.images import Image
from tests.fixtures.registry import Reply, Seen

NAME = "library/busybox"


def ref_for(host: str, rest: str = f"{NAME}:latest") -> Any:
    return parse_reference(f"{host}/{rest}")


async def pull(
    store: ContentStore,
    host: str,
    rest: str = f"{NAME}:latest",
    *,
    insecure: tuple[str, ...] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> PulledImage:
    async with RegistryClient(
        store, insecure=(host,) if insecure is None else insecure, **options
    ) as client:
        return await client.pull(ref_for(host, rest), progress)


def assert_pulled(store: ContentStore, pulled: PulledImage, image: Image) -> None:
    assert pulled.manifest_digest == image.digest
    assert pulled.config_digest == image.config_digest
    assert pulled.config_bytes == image.config.data
    assert pulled.config == image.config_json
    assert [layer.digest for layer in pulled.layers] == [layer.digest for layer in image.layers]
    for got, want in zip(pulled.layers, image.layers, strict=True):
        assert (got.size, got.media_type) == (want.blob.size, want.blob.media_type)
        assert store.path(got.digest).read_bytes() == want.blob.data
    assert store.read_bytes(image.config_digest, 1 << 20) == image.config.data
    assert store.read_bytes(image.digest, 1 << 20) == image.manifest.data
    assert os.listdir(store.root / "ingest") == []


def ingest_leftovers(store: ContentStore) -> list[str]:
    return os.listdir(store.root / "ingest")


def registry_routes(
    image: Image,
    *,
    tag: str = "latest",
    manifest: bytes | None = None,
    content_type: str | None = None,
    blob_reply: Callable[[bytes], Reply] | None = None,
) -> Callable[[Seen], Reply]:
    """A fake registry serving `image` (or another manifest body) under NAME:tag."""
    blobs = {blob.digest: blob.data for blob in image.blobs()}
    body = image.manifest.data if manifest is None else manifest
    media_type = content_type or image.manifest.media_type

    def route(seen: Seen) -> Reply:
        if seen.path == "/v2/":
            return Reply(200, {"Content-Type": "application/json"}, b"{}")
        if seen.path in (f"/v2/{NAME}/manifests/{tag}", f"/v2/{NAME}/manifests/{image.digest}"):
            return Reply(200, {"Content-Type": media_type}, body)
        prefix = f"/v2/{NAME}/blobs/"
        if seen.path.startswith(prefix) and seen.path[len(prefix) :] in blobs:
            data = blobs[seen.path[len(prefix) :]]
            return blob_reply(data) if blob_reply else Reply(200, {}, data)
        return Reply(404, {"Content-Type": "application/json"}, b'{"errors":[]}')

    return route
