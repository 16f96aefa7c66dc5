"""The registry client pulling from a real `docker-registry` (distribution 2.8): tags,
digests, indexes, layer compressions, blobs already present, parallel downloads."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

import pytest
import trio

from berth.adapters.content import ContentStore
from berth.adapters.registry import PulledImage, RegistryClient, transport
from berth.domain.errors import InvalidParameter, NotFound
from tests.fixtures.images import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    busybox_image,
    make_image,
    make_index,
    two_platform_index,
)
from tests.fixtures.layers import busybox_layer, make_layer
from tests.fixtures.registry import RunningRegistry

from .registry_pulls import NAME, assert_pulled, pull, ref_for

# -- pulling -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["oci", "docker"])
async def test_pull_by_tag(registry: RunningRegistry, store: ContentStore, kind: Any) -> None:
    image = busybox_image(kind=kind)
    registry.push(NAME, image, tag="1.36")
    pulled = await pull(store, registry.host, f"{NAME}:1.36")
    assert_pulled(store, pulled, image)
    assert pulled.manifest_media_type == (OCI_MANIFEST if kind == "oci" else DOCKER_MANIFEST)
    assert pulled.repo_digest == f"{registry.host}/{NAME}@{image.digest}"
    assert pulled.index_digest is None
    assert pulled.reference == ref_for(registry.host, f"{NAME}:1.36")


@pytest.mark.parametrize("kind", ["oci", "docker"])
async def test_pull_by_digest(registry: RunningRegistry, store: ContentStore, kind: Any) -> None:
    image = busybox_image(kind=kind)
    registry.push(NAME, image, tag=None)
    pulled = await pull(store, registry.host, f"{NAME}@{image.digest}")
    assert_pulled(store, pulled, image)
    assert pulled.repo_digest == f"{registry.host}/{NAME}@{image.digest}"


@pytest.mark.parametrize("kind", ["oci", "docker"])
async def test_index_selects_linux_amd64(
    registry: RunningRegistry, store: ContentStore, kind: Any
) -> None:
    index = two_platform_index([make_layer({"etc/os": b"x"}, kind=kind)], kind=kind)
    arm, amd = index.images
    registry.push(NAME, index)
    pulled = await pull(store, registry.host)
    assert_pulled(store, pulled, amd)
    assert pulled.config["architecture"] == "amd64"
    assert pulled.index_digest == index.digest
    assert pulled.repo_digest == f"{registry.host}/{NAME}@{index.digest}"
    assert not store.has(arm.config_digest)  # the other platform was not fetched

    by_digest = await pull(store, registry.host, f"{NAME}@{index.digest}")
    assert by_digest.manifest_digest == amd.digest


async def test_index_without_amd64(registry: RunningRegistry, store: ContentStore) -> None:
    layer = make_layer({"a": b"a"})
    index = make_index(
        [make_image([layer], architecture="arm64"), make_image([layer], os="windows")]
    )
    registry.push(NAME, index)
    with pytest.raises(NotFound) as caught:
        await pull(store, registry.host)
    assert str(caught.value) == (
        "no matching manifest for linux/amd64 in the manifest list entries"
    )


async def test_gzip_zstd_and_plain_layers(registry: RunningRegistry, store: ContentStore) -> None:
    layers = [
        busybox_layer("gzip"),
        make_layer({"etc/zstd": b"z" * 10000}, compression="zstd"),
        make_layer({"etc/plain": b"p" * 10000}, compression="none"),
    ]
    image = make_image(layers)
    registry.push(NAME, image)
    pulled = await pull(store, registry.host)
    assert_pulled(store, pulled, image)
    assert [layer.media_type for layer in pulled.layers] == [
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.v1.tar",
    ]


async def test_repeated_layer_is_fetched_once(
    registry: RunningRegistry, store: ContentStore
) -> None:
    layer = make_layer({"a": b"same"})
    image = make_image([layer, layer])
    registry.push(NAME, image)
    messages: list[dict[str, Any]] = []
    pulled = await pull(store, registry.host, progress=messages.append)
    assert len(pulled.layers) == 2
    assert [m["status"] for m in messages].count("Download complete") == 1


async def test_second_pull_skips_present_blobs(
    registry: RunningRegistry, store: ContentStore
) -> None:
    image = busybox_image()
    registry.push(NAME, image)
    await pull(store, registry.host)
    messages: list[dict[str, Any]] = []
    await pull(store, registry.host, progress=messages.append)
    assert [m["status"] for m in messages] == ["Pulling from library/busybox", "Already exists"]


async def test_diff_ids_must_match_layers(registry: RunningRegistry, store: ContentStore) -> None:
    layer = make_layer({"a": b"a"})
    image = make_image([layer], extra_config={"rootfs": {"type": "layers", "diff_ids": []}})
    registry.push(NAME, image)
    with pytest.raises(InvalidParameter, match="layers from manifest don't match image config"):
        await pull(store, registry.host)
    assert not store.has(layer.digest)


# -- concurrency -----------------------------------------------------------------------


class TrackingStore(ContentStore):
    """Counts concurrent ingests, and holds each until two run at once."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.active = 0
        self.peak = 0
        self.overlap = trio.Event()

    async def ingest(self, digest: str, size: int | None, chunks: AsyncIterable[bytes]) -> Path:
        self.active += 1
        self.peak = max(self.peak, self.active)
        if self.active >= 2:
            self.overlap.set()
        try:
            with trio.fail_after(10):
                await self.overlap.wait()
            return await super().ingest(digest, size, chunks)
        finally:
            self.active -= 1


async def test_parallel_downloads_overlap(registry: RunningRegistry, tmp_path: Path) -> None:
    layers = [make_layer({f"f{i}": os.urandom(50_000)}) for i in range(5)]
    image = make_image(layers)
    registry.push(NAME, image)
    store = TrackingStore(tmp_path / "content")
    pulled = await pull(store, registry.host, max_parallel=2)
    assert store.peak == 2  # overlapped, and never more than max_parallel
    assert_pulled(store, pulled, image)


async def test_concurrent_pulls_of_one_image(
    registry: RunningRegistry, store: ContentStore
) -> None:
    image = make_image([busybox_layer(), make_layer({"x": os.urandom(200_000)})])
    registry.push(NAME, image)
    results: list[PulledImage] = []
    async with RegistryClient(store, insecure=(registry.host,)) as shared:

        async def one(client: RegistryClient) -> None:
            results.append(await client.pull(ref_for(registry.host)))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one, shared)
            nursery.start_soon(one, shared)
            other = RegistryClient(store, insecure=(registry.host,))
            nursery.start_soon(one, other)
    await other.aclose()
    assert len(results) == 3
    for pulled in results:
        assert_pulled(store, pulled, image)


async def test_a_plain_http_pull_builds_no_trust_store(
    registry: RunningRegistry, store: ContentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The system's trust store (2.5 MB resident) is built for a registry spoken to over
    TLS, not for one listed as insecure."""

    def no_trust_store() -> None:
        raise AssertionError("the trust store was built for a plain-HTTP registry")

    monkeypatch.setattr(transport, "_default_ssl_context", no_trust_store)
    image = make_image([busybox_layer()])
    registry.push(NAME, image)
    pulled = await pull(store, registry.host)
    assert_pulled(store, pulled, image)
