"""The `Registry` contract (adapters/registry/protocol.py), for the fake and for the real
client against a real registry (Debian's docker-registry on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from berth.adapters.content import Blobs, ContentStore, DigestMismatch
from berth.adapters.registry import LayerDescriptor, PulledImage, Registry, RegistryClient
from berth.domain.errors import InvalidParameter, NotFound, Unavailable
from berth.domain.reference import ImageReference, parse_reference

from ..fakes.content import FakeContent
from ..fakes.registry import FakeRegistry
from ..fixtures.images import Image, Index, make_image, two_platform_index
from ..fixtures.layers import File, make_layer
from ..fixtures.registry import RunningRegistry, free_port
from .conftest import IMPLEMENTATIONS, needs

NAME = "library/small"
LAYERS = [make_layer({"a.txt": File(b"a")}), make_layer({"b.txt": File(b"b" * 5000)})]
IMAGE = make_image(LAYERS)


class Subject:
    """A registry with its content store, and what only its implementation can do."""

    def __init__(self, registry: Registry, content: Blobs, host: str) -> None:
        self.registry = registry
        self.content = content
        self.host = host

    def ref(self, rest: str = f"{NAME}:latest") -> ImageReference:
        return parse_reference(f"{self.host}/{rest}")

    def push(self, image: Image | Index, tag: str | None = "latest") -> str:
        raise NotImplementedError

    def corrupt(self, digest: str) -> None:
        raise NotImplementedError

    async def pull(self, rest: str = f"{NAME}:latest") -> tuple[PulledImage, list[str]]:
        """Resolve and fetch; the layers `on_layer` announced."""
        pulled = await self.registry.resolve(self.ref(rest))
        ready: list[LayerDescriptor] = []
        await self.registry.fetch_layers(pulled, on_layer=ready.append)
        return pulled, [layer.digest for layer in ready]


class FakeSubject(Subject):
    def __init__(self) -> None:
        self.fake = FakeRegistry(FakeContent())
        super().__init__(self.fake, self.fake.content, self.fake.host)

    def push(self, image: Image | Index, tag: str | None = "latest") -> str:
        return self.fake.push(NAME, image, tag)

    def corrupt(self, digest: str) -> None:
        self.fake.corrupt(digest)


class RealSubject(Subject):
    def __init__(self, running: RunningRegistry, content: ContentStore) -> None:
        self.running = running
        client = RegistryClient(content, insecure=(running.host,))
        super().__init__(client, content, running.host)

    def push(self, image: Image | Index, tag: str | None = "latest") -> str:
        return self.running.push(NAME, image, tag)

    def corrupt(self, digest: str) -> None:
        path = self.running.blob_path(digest)
        data = path.read_bytes()
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))


@pytest.fixture(params=IMPLEMENTATIONS)
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    if request.param == "fake":
        yield FakeSubject()
        return
    needs(commands=("docker-registry",))
    running: RunningRegistry = request.getfixturevalue("registry")
    real = RealSubject(running, ContentStore(tmp_path / "content"))
    assert isinstance(real.registry, RegistryClient)
    async with real.registry:
        yield real


async def test_resolve_verifies_and_stores_the_manifest_and_config_only(subject: Subject) -> None:
    subject.push(IMAGE)
    messages: list[dict[str, Any]] = []
    pulled = await subject.registry.resolve(subject.ref(), messages.append)
    assert pulled.reference == subject.ref()
    assert (pulled.manifest_digest, pulled.config_digest) == (IMAGE.digest, IMAGE.config_digest)
    assert pulled.config == IMAGE.config_json and pulled.config_bytes == IMAGE.config.data
    assert pulled.repo_digest == f"{subject.host}/{NAME}@{IMAGE.digest}"
    assert pulled.index_digest is None
    assert [(x.digest, x.size, x.media_type) for x in pulled.layers] == [
        (layer.digest, layer.blob.size, layer.blob.media_type) for layer in LAYERS
    ]
    assert subject.content.read_bytes(IMAGE.digest, 1 << 20) == IMAGE.manifest.data
    assert subject.content.read_bytes(IMAGE.config_digest, 1 << 20) == IMAGE.config.data
    assert not any(subject.content.has(layer.digest) for layer in LAYERS)
    assert messages[0]["status"] == f"Pulling from {NAME}"


async def test_fetch_layers_stores_each_layer_verified_and_says_so(subject: Subject) -> None:
    subject.push(IMAGE)
    pulled, ready = await subject.pull()
    assert sorted(ready) == sorted(layer.digest for layer in LAYERS)
    for layer in LAYERS:
        assert subject.content.read_bytes(layer.digest, 1 << 20) == layer.blob.data
    messages: list[dict[str, Any]] = []
    again: list[LayerDescriptor] = []
    await subject.registry.fetch_layers(pulled, messages.append, again.append)
    assert sorted(x.digest for x in again) == sorted(ready)
    assert {m["status"] for m in messages} == {"Already exists"}


async def test_a_layer_at_several_positions_is_fetched_once(subject: Subject) -> None:
    subject.push(make_image([LAYERS[0], LAYERS[1], LAYERS[0]]))
    _, ready = await subject.pull()
    assert sorted(ready) == sorted(layer.digest for layer in LAYERS)


async def test_an_index_resolves_to_linux_amd64(subject: Subject) -> None:
    index = two_platform_index(LAYERS)
    subject.push(index)
    pulled = await subject.registry.resolve(subject.ref())
    amd64 = index.images[1]
    assert pulled.manifest_digest == amd64.digest and pulled.index_digest == index.digest
    assert pulled.repo_digest == f"{subject.host}/{NAME}@{index.digest}"
    by_digest = await subject.registry.resolve(subject.ref(f"{NAME}@{index.digest}"))
    assert by_digest.manifest_digest == amd64.digest


async def test_an_image_resolves_by_its_digest(subject: Subject) -> None:
    subject.push(IMAGE, tag=None)
    pulled, _ = await subject.pull(f"{NAME}@{IMAGE.digest}")
    assert pulled.manifest_digest == IMAGE.digest


async def test_what_the_registry_lacks_is_not_found_in_dockers_words(subject: Subject) -> None:
    subject.push(IMAGE)
    with pytest.raises(NotFound) as raised:
        await subject.registry.resolve(subject.ref(f"{NAME}:nope"))
    assert raised.value.message.startswith(f"manifest for {subject.host}/{NAME}:nope not found: ")
    assert raised.value.http_status == 404
    with pytest.raises(NotFound, match=r"^manifest for .*/library/nothing:latest not found: "):
        await subject.registry.resolve(subject.ref("library/nothing"))


async def test_a_layer_whose_bytes_are_not_its_digest_is_refused_and_not_stored(
    subject: Subject,
) -> None:
    subject.push(IMAGE)
    subject.corrupt(LAYERS[1].digest)
    pulled = await subject.registry.resolve(subject.ref())
    with pytest.raises(DigestMismatch):
        await subject.registry.fetch_layers(pulled)
    assert not subject.content.has(LAYERS[1].digest)


async def test_a_digest_other_than_sha256_is_refused(subject: Subject) -> None:
    with pytest.raises(InvalidParameter, match="only sha256 is supported"):
        await subject.registry.resolve(subject.ref(f"{NAME}@sha512:{'0' * 128}"))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
async def test_a_registry_that_cannot_be_reached_is_unavailable(impl: str, tmp_path: Path) -> None:
    if impl == "fake":
        fake = FakeRegistry(FakeContent())
        fake.down = True
        registry: Registry = fake
        host = fake.host
    else:
        host = f"127.0.0.1:{free_port()}"  # nothing listens there
        registry = RegistryClient(ContentStore(tmp_path / "content"), insecure=(host,))
    with pytest.raises(Unavailable) as raised:
        await registry.resolve(parse_reference(f"{host}/{NAME}"))
    assert raised.value.http_status == 503
    assert "connection refused" in raised.value.message
