"""The registry client follows redirects safely: no credentials to another host
(ContainerDrip), a limit on redirects, never down to plain HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from berth.adapters.content import ContentStore
from berth.adapters.registry import RegistryError
from berth.domain.errors import NotFound
from tests.fixtures.images import busybox_image, make_image
from tests.fixtures.layers import busybox_layer, make_layer
from tests.fixtures.registry import FakeHTTPServer, Reply, RunningRegistry, Seen

from .registry_pulls import NAME, assert_pulled, pull


def forwarding_routes(
    registry: RunningRegistry, cdn_url: Callable[[], str]
) -> Callable[[Seen], Reply]:
    """Forward everything to `registry`, except blob GETs: 307 to the CDN."""

    def route(seen: Seen) -> Reply:
        if "/blobs/" in seen.path:
            return Reply(307, {"Location": f"{cdn_url()}/cdn{seen.path}"})
        headers = {k: v for k, v in seen.headers.items() if k in ("authorization", "accept")}
        with httpx.Client(trust_env=False) as client:
            answer = client.get(registry.url + seen.path, headers=headers)
        keep = ("content-type", "www-authenticate", "docker-content-digest")
        return Reply(
            answer.status_code,
            {k: v for k, v in answer.headers.items() if k in keep},
            answer.content,
        )

    return route


async def test_authorization_dropped_on_cross_host_redirect(
    token_registry: RunningRegistry, store: ContentStore
) -> None:
    server = token_registry.token_server
    assert server is not None and token_registry.credentials is not None
    image = make_image([busybox_layer(), make_layer({"a": b"a"})])
    token_registry.push(NAME, image)
    blobs = {blob.digest: blob.data for blob in image.blobs()}
    cdn_url = ""

    def cdn_route(seen: Seen) -> Reply:
        return Reply(
            200, {"Content-Type": "application/octet-stream"}, blobs[seen.path.rsplit("/", 1)[1]]
        )

    with (
        FakeHTTPServer(cdn_route) as cdn,
        FakeHTTPServer(forwarding_routes(token_registry, lambda: cdn_url)) as front,
    ):
        cdn_url = cdn.url
        pulled = await pull(
            store,
            front.host,
            insecure=(front.host, cdn.host, server.host),
            credentials={front.host: token_registry.credentials},
        )
        assert pulled.manifest_digest == image.digest
        assert len(cdn.requests()) == 3  # the config and both layers came from the CDN
        assert all("authorization" not in seen.headers for seen in cdn.requests())
        assert any("authorization" in seen.headers for seen in front.requests())
    assert_pulled(store, pulled, image)


async def test_no_credentials_for_a_redirect_target_that_challenges(
    token_registry: RunningRegistry, store: ContentStore
) -> None:
    """ContainerDrip (CVE-2020-15157): the other host answers 401 with its own realm."""
    server = token_registry.token_server
    assert server is not None and token_registry.credentials is not None
    token_registry.push(NAME, busybox_image())
    cdn_url = ""

    def evil(seen: Seen) -> Reply:
        challenge = f'Bearer realm="{cdn_url}/token",service="evil",scope="x", Basic realm="e"'
        return Reply(401, {"WWW-Authenticate": challenge}, b"")

    with (
        FakeHTTPServer(evil) as cdn,
        FakeHTTPServer(forwarding_routes(token_registry, lambda: cdn_url)) as front,
    ):
        cdn_url = cdn.url
        with pytest.raises(NotFound, match="pull access denied"):
            await pull(
                store,
                front.host,
                insecure=(front.host, cdn.host, server.host),
                credentials={front.host: token_registry.credentials},
            )
        assert cdn.requests()
        assert all("authorization" not in seen.headers for seen in cdn.requests())
        assert not any(seen.path.startswith("/token") for seen in cdn.requests())


async def test_redirect_limit(store: ContentStore) -> None:
    def route(seen: Seen) -> Reply:
        if seen.path == "/v2/":
            return Reply(200, {}, b"{}")
        return Reply(302, {"Location": seen.path})

    with FakeHTTPServer(route) as server:
        with pytest.raises(RegistryError, match="stopped after 10 redirects"):
            await pull(store, server.host)
        assert len(server.requests()) == 1 + 11


async def test_redirect_to_plain_http_refused(store: ContentStore) -> None:
    with FakeHTTPServer(lambda seen: Reply(200, {}, b"{}")) as other:

        def route(seen: Seen) -> Reply:
            if seen.path == "/v2/":
                return Reply(200, {}, b"{}")
            return Reply(302, {"Location": f"{other.url}/elsewhere"})

        with (
            FakeHTTPServer(route) as server,
            pytest.raises(RegistryError, match=f"refusing http://{other.host}"),
        ):
            await pull(store, server.host)
        assert other.requests() == []
