"""The registry client verifies what it is sent: tampered, short or oversized blobs and
manifests, mislabelled or ambiguous manifests (some served by a scripted FakeHTTPServer)."""

from __future__ import annotations

import json
import os

import pytest

from berth.adapters.content import ContentStore, DigestMismatch
from berth.adapters.registry import UnsupportedManifest
from tests.fixtures.images import DOCKER_MANIFEST, OCI_MANIFEST, busybox_image, make_image
from tests.fixtures.layers import make_layer
from tests.fixtures.registry import FakeHTTPServer, Reply, RunningRegistry, Seen

from .registry_pulls import NAME, ingest_leftovers, pull, registry_routes


async def test_tampered_blob(registry: RunningRegistry, store: ContentStore) -> None:
    image = busybox_image()
    registry.push(NAME, image)
    layer = image.layers[0]
    path = registry.blob_path(layer.digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DigestMismatch) as caught:
        await pull(store, registry.host)
    assert str(caught.value).startswith(f"failed to verify digest: expected {layer.digest}, got ")
    assert not store.has(layer.digest)
    assert ingest_leftovers(store) == []


async def test_one_bad_layer_among_parallel_downloads(
    registry: RunningRegistry, store: ContentStore
) -> None:
    layers = [make_layer({f"f{i}": os.urandom(100_000)}) for i in range(6)]
    image = make_image(layers)
    registry.push(NAME, image)
    path = registry.blob_path(layers[2].digest)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DigestMismatch, match=f"expected {layers[2].digest}"):
        await pull(store, registry.host)  # one error, not an exception group
    assert not store.has(layers[2].digest)
    assert ingest_leftovers(store) == []
    # Every blob that is there is whole.
    whole = {layer.digest: layer.blob.data for layer in layers}
    for digest in store.digests():
        if digest in whole:
            assert store.path(digest).read_bytes() == whole[digest]


async def test_tampered_config(registry: RunningRegistry, store: ContentStore) -> None:
    image = busybox_image()
    registry.push(NAME, image)
    path = registry.blob_path(image.config_digest)
    path.write_bytes(path.read_bytes().replace(b"amd64", b"arm64"))
    with pytest.raises(DigestMismatch, match="failed to verify digest"):
        await pull(store, registry.host)
    assert not store.has(image.config_digest)
    assert not store.has(image.layers[0].digest)


async def test_blob_of_wrong_size(registry: RunningRegistry, store: ContentStore) -> None:
    layer = make_layer({"a": b"a" * 5000})
    image = make_image([layer])
    registry.push(NAME, image)
    doc = json.loads(image.manifest.data)
    doc["layers"][0]["size"] += 1
    registry.push_manifest(NAME, "lying", json.dumps(doc).encode(), OCI_MANIFEST)
    with pytest.raises(DigestMismatch) as caught:
        await pull(store, registry.host, f"{NAME}:lying")
    assert str(caught.value) == (
        f"unexpected size: expected {layer.blob.size + 1}, got {layer.blob.size}"
    )
    assert not store.has(layer.digest)

    # The registry's copy grown behind its back: the size is wrong the other way.
    path = registry.blob_path(layer.digest)
    path.write_bytes(path.read_bytes() + b"extra")
    with pytest.raises(DigestMismatch, match=r"^unexpected size: expected \d+, got \d+"):
        await pull(store, registry.host)
    assert not store.has(layer.digest)
    assert ingest_leftovers(store) == []


@pytest.mark.parametrize("with_length", [True, False])
async def test_truncated_stream(store: ContentStore, with_length: bool) -> None:
    layer = make_layer({"big": os.urandom(300_000)}, compression="none")
    image = make_image([layer])
    sizes = {layer.blob.size}

    def short(data: bytes) -> Reply:
        if len(data) in sizes:
            return Reply(200, {}, data, send_bytes=len(data) // 2, length=with_length)
        return Reply(200, {}, data)

    with (
        FakeHTTPServer(registry_routes(image, blob_reply=short)) as server,
        pytest.raises(DigestMismatch) as caught,
    ):
        await pull(store, server.host)
    assert str(caught.value).startswith(
        f"unexpected size: expected {layer.blob.size}, got {layer.blob.size // 2}"
    )
    assert not store.has(layer.digest)
    assert ingest_leftovers(store) == []


async def test_manifest_by_digest_must_match(store: ContentStore) -> None:
    image = make_image([make_layer({"a": b"a"})])
    other = make_image([make_layer({"b": b"b"})])
    routes = registry_routes(image, manifest=other.manifest.data)
    with (
        FakeHTTPServer(routes) as server,
        pytest.raises(DigestMismatch) as caught,
    ):
        await pull(store, server.host, f"{NAME}@{image.digest}")
    assert str(caught.value) == (
        f"failed to verify digest: expected {image.digest}, got {other.digest}"
    )


@pytest.mark.parametrize("with_length", [True, False])
async def test_oversized_manifest(store: ContentStore, with_length: bool) -> None:
    image = make_image([make_layer({"a": b"a"})])
    doc = json.loads(image.manifest.data)
    doc["annotations"] = {"padding": "x" * (4 * 1024 * 1024)}
    big = json.dumps(doc).encode()

    def route(seen: Seen) -> Reply:
        if seen.path == "/v2/":
            return Reply(200, {}, b"{}")
        return Reply(200, {"Content-Type": OCI_MANIFEST}, big, length=with_length)

    with (
        FakeHTTPServer(route) as server,
        pytest.raises(UnsupportedManifest, match="larger than the limit of 4194304 bytes"),
    ):
        await pull(store, server.host)
    assert store.digests() == []


async def test_ambiguous_manifest(store: ContentStore) -> None:
    image = make_image([make_layer({"a": b"a"})], extra_manifest={"manifests": []})
    with (
        FakeHTTPServer(registry_routes(image)) as server,
        pytest.raises(UnsupportedManifest, match="ambiguous"),
    ):
        await pull(store, server.host)
    assert not store.has(image.layers[0].digest)


async def test_media_type_must_match_content_type(store: ContentStore) -> None:
    image = make_image([make_layer({"a": b"a"})])
    with (
        FakeHTTPServer(registry_routes(image, content_type=DOCKER_MANIFEST)) as server,
        pytest.raises(UnsupportedManifest) as caught,
    ):
        await pull(store, server.host)
    assert str(caught.value) == (
        f'manifest media type mismatch: mediaType "{OCI_MANIFEST}" '
        f'but Content-Type "{DOCKER_MANIFEST}"'
    )


async def test_descriptor_urls_are_ignored(store: ContentStore) -> None:
    with FakeHTTPServer(lambda seen: Reply(200, {}, b"trap")) as trap:
        layer = make_layer({"a": b"a"})
        doc = json.loads(make_image([layer]).manifest.data)
        doc["layers"][0]["urls"] = [f"{trap.url}/layer"]
        image = make_image([layer])
        routes = registry_routes(image, manifest=json.dumps(doc).encode())
        with FakeHTTPServer(routes) as server:
            pulled = await pull(store, server.host, insecure=(server.host, trap.host))
        assert trap.requests() == []
    assert store.path(pulled.layers[0].digest).read_bytes() == layer.blob.data
