"""The registry client's errors: unknown tags and repositories, a registry down, HTTPS, schema 1."""

from __future__ import annotations

import pytest
import trio

from berth.adapters.content import ContentStore
from berth.adapters.registry import UnsupportedManifest
from berth.domain.errors import NotFound, Unavailable
from tests.fixtures.images import busybox_image, schema1_manifest
from tests.fixtures.layers import make_layer
from tests.fixtures.registry import FakeHTTPServer, Reply, RunningRegistry, free_port

from .registry_pulls import NAME, pull


async def test_unknown_tag(registry: RunningRegistry, store: ContentStore) -> None:
    registry.push(NAME, busybox_image())
    with pytest.raises(NotFound) as caught:
        await pull(store, registry.host, f"{NAME}:nope")
    assert str(caught.value) == (
        f"manifest for {registry.host}/{NAME}:nope not found: manifest unknown: manifest unknown"
    )


async def test_unknown_repository_and_digest(
    registry: RunningRegistry, store: ContentStore
) -> None:
    with pytest.raises(NotFound, match=r"^manifest for .*/library/nothing:latest not found: "):
        await pull(store, registry.host, "library/nothing")
    digest = "sha256:" + "ab" * 32
    with pytest.raises(NotFound) as caught:
        await pull(store, registry.host, f"library/nothing@{digest}")
    assert str(caught.value) == (
        f"manifest for {registry.host}/library/nothing@{digest} not found: "
        "manifest unknown: manifest unknown"
    )


async def test_registry_down(store: ContentStore) -> None:
    host = f"127.0.0.1:{free_port()}"
    with pytest.raises(Unavailable) as caught:
        await pull(store, host, insecure=())
    assert str(caught.value) == (
        f'Get "https://{host}/v2/": dial tcp {host}: connect: connection refused'
    )
    with pytest.raises(Unavailable, match=rf'^Get "http://{host}/v2/": dial tcp'):
        await pull(store, host)


async def test_https_only_unless_insecure(registry: RunningRegistry, store: ContentStore) -> None:
    registry.push(NAME, busybox_image())
    before = registry.log_text().count('"GET /v2/')
    with pytest.raises(Unavailable) as caught:
        await pull(store, registry.host, insecure=())
    assert str(caught.value) == (
        f'Get "https://{registry.host}/v2/": http: server gave HTTP response to HTTPS client'
    )
    await trio.sleep(0.2)
    assert registry.log_text().count('"GET /v2/') == before  # never retried over HTTP
    assert store.digests() == []
    # The same registry, listed as insecure, is spoken to in plain HTTP.
    await pull(store, registry.host, insecure=(registry.host,))


async def test_plain_http_server_sees_no_request_when_not_insecure(store: ContentStore) -> None:
    with FakeHTTPServer(lambda seen: Reply(200, {}, b"{}")) as server:
        with pytest.raises(Unavailable, match="server gave HTTP response to HTTPS client"):
            await pull(store, server.host, insecure=())
        await trio.sleep(0.1)
        assert server.requests() == []


async def test_schema1_refused(registry: RunningRegistry, store: ContentStore) -> None:
    layer = make_layer({"a": b"old"})
    registry.push_blob(NAME, layer.blob.data)
    body = schema1_manifest(NAME, "old", [layer])
    registry.push_manifest(
        NAME, "old", body, "application/vnd.docker.distribution.manifest.v1+prettyjws"
    )
    with pytest.raises(UnsupportedManifest) as caught:
        await pull(store, registry.host, f"{NAME}:old")
    assert "schema 1 is not supported" in str(caught.value)
    assert f"{registry.host}/{NAME}:old" in str(caught.value)
    assert not store.has(layer.digest)
