"""The registry client pushing to a real `docker-registry`: monolithic and chunked uploads,
blobs already there, a cross-repository mount, the manifest last, and credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berth.adapters.content import ContentStore
from berth.adapters.registry import PulledImage, RegistryClient, Unauthorized
from berth.adapters.registry.push import PushBlob
from tests.fixtures.images import make_image
from tests.fixtures.layers import make_layer
from tests.fixtures.registry import RunningRegistry

from .registry_pulls import NAME, pull, ref_for


def _blobs(pulled: PulledImage) -> list[PushBlob]:
    layers = [PushBlob(la.digest, la.size, la.digest[7:19]) for la in pulled.layers]
    return [*layers, PushBlob(pulled.config_digest, len(pulled.config_bytes))]


async def _push(
    store: ContentStore,
    registry: RunningRegistry,
    pulled: PulledImage,
    target: str,
    *,
    chunk: int = 1 << 20,
    mount_from: str | None = None,
    credentials: dict[str, tuple[str, str]] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    manifest = store.read_bytes(pulled.manifest_digest, 1 << 20)
    ref = ref_for(registry.host, target)
    async with RegistryClient(
        store, insecure=(registry.host,), credentials=credentials or {}
    ) as client:
        pushed = await client.uploads(ref, chunk).push(
            _blobs(pulled), manifest, pulled.manifest_media_type, ref.tag, seen.append, mount_from
        )
    return pushed.digest, seen


def _statuses(seen: list[dict[str, Any]]) -> set[str]:
    return {m["status"] for m in seen if "id" in m and m["status"] != "Pushing"}


@pytest.fixture
def two_layers() -> Any:
    return make_image([make_layer({"a": b"x" * 5000}), make_layer({"b": b"y" * 300})])


async def test_chunked_push_then_pull_back(
    registry: RunningRegistry, store: ContentStore, tmp_path: Path, two_layers: Any
) -> None:
    registry.push(NAME, two_layers, tag="1")
    pulled = await pull(store, registry.host, f"{NAME}:1")
    # 1000-byte chunks: every layer blob goes in several PATCHes.
    digest, seen = await _push(store, registry, pulled, "copy/app:2", chunk=1000)
    assert digest == two_layers.digest
    assert _statuses(seen) == {"Preparing", "Pushed"}
    back = await pull(ContentStore(tmp_path / "other"), registry.host, "copy/app:2")
    assert (back.manifest_digest, back.config_digest) == (digest, pulled.config_digest)
    again, seen = await _push(store, registry, pulled, "copy/app:3")
    assert again == digest
    assert _statuses(seen) == {"Preparing", "Layer already exists"}


async def test_cross_repository_mount(
    registry: RunningRegistry, store: ContentStore, two_layers: Any
) -> None:
    registry.push(NAME, two_layers, tag="1")
    pulled = await pull(store, registry.host, f"{NAME}:1")
    digest, seen = await _push(store, registry, pulled, "mounted:1", mount_from=NAME)
    assert digest == two_layers.digest
    assert _statuses(seen) == {"Preparing", f"Mounted from {NAME}"}
    # Mounted blobs are the registry's, so nothing went over the wire but the manifest.
    assert not [m for m in seen if m["status"] == "Pushing"]


@pytest.mark.parametrize("kind", ["basic", "token"])
async def test_push_with_credentials(
    kind: str, request: pytest.FixtureRequest, store: ContentStore, two_layers: Any
) -> None:
    registry: RunningRegistry = request.getfixturevalue(f"{kind}_registry")
    registry.push(NAME, two_layers, tag="1")
    assert registry.credentials is not None
    credentials = {registry.host: registry.credentials}
    pulled = await pull(store, registry.host, f"{NAME}:1", credentials=credentials)
    with pytest.raises(Unauthorized):
        await _push(store, registry, pulled, "private:1")
    wrong = {registry.host: (registry.credentials[0], "wrong")}
    with pytest.raises(Unauthorized):
        await _push(store, registry, pulled, "private:1", credentials=wrong)
    digest, _ = await _push(store, registry, pulled, "private:1", credentials=credentials)
    assert digest == two_layers.digest


@pytest.mark.parametrize("kind", ["basic", "token"])
async def test_login_check(kind: str, request: pytest.FixtureRequest, store: ContentStore) -> None:
    registry: RunningRegistry = request.getfixturevalue(f"{kind}_registry")
    assert registry.credentials is not None
    user, password = registry.credentials
    for given in ((user, "wrong"), ("nobody", password)):
        async with RegistryClient(
            store, insecure=(registry.host,), credentials={registry.host: given}
        ) as client:
            with pytest.raises(Unauthorized):
                await client.check_login(registry.host)
    async with RegistryClient(
        store, insecure=(registry.host,), credentials={registry.host: (user, password)}
    ) as client:
        await client.check_login(registry.host)
