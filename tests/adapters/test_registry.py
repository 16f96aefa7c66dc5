"""The registry client against a real `docker-registry` (distribution 2.8) on 127.0.0.1.

A scripted HTTP server (FakeHTTPServer) stands in only where a real registry would
refuse to serve what the test needs: oversized, ambiguous or mislabelled manifests,
truncated streams, redirects, echoed secrets.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from berth.adapters.content import ContentStore, DigestMismatch
from berth.adapters.registry import (
    PulledImage,
    RegistryClient,
    RegistryError,
    Unauthorized,
    UnsupportedManifest,
    progress_message,
)
from berth.adapters.registry.auth import Authorizer, parse_www_authenticate
from berth.adapters.registry.progress import DownloadMeter, human_size
from berth.domain.errors import InvalidParameter, NotFound, Unavailable
from berth.domain.reference import parse_reference
from tests.fixtures.images import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    Image,
    busybox_image,
    busybox_layer,
    make_image,
    make_index,
    make_layer,
    schema1_manifest,
    two_platform_index,
)
from tests.fixtures.registry import (
    PASSWORD,
    FakeHTTPServer,
    Reply,
    RunningRegistry,
    Seen,
    free_port,
)

NAME = "library/busybox"


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


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


# -- errors from the registry ----------------------------------------------------------


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


# -- verification ----------------------------------------------------------------------


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


# -- authorization ---------------------------------------------------------------------


def test_parse_www_authenticate() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull",error="insufficient_scope", Basic realm="say \\"hi\\""'
    )
    bearer, basic = parse_www_authenticate(header)
    assert bearer.scheme == "bearer"
    assert bearer.params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull",
        "error": "insufficient_scope",
    }
    assert (basic.scheme, basic.params) == ("basic", {"realm": 'say "hi"'})
    assert parse_www_authenticate("") == []


async def test_tokens_cached_per_host_and_scope_until_expiry() -> None:
    now = [0.0]
    asked: list[str] = []

    async def fetch(url: str, headers: dict[str, str]) -> httpx.Response:
        asked.append(url)
        body = json.dumps({"token": f"t{len(asked)}", "expires_in": 120}).encode()
        return httpx.Response(200, content=body)

    auth = Authorizer({}, ["r:1"], fetch, clock=lambda: now[0])
    assert await auth.authorization("r:1", "repository:a:pull") is None  # no challenge yet
    assert auth.learn("r:1", 'Bearer realm="http://r:2/token",service="s"')
    assert await auth.authorization("r:1", "repository:a:pull") == "Bearer t1"
    assert await auth.authorization("r:1", "repository:a:pull") == "Bearer t1"
    assert await auth.authorization("r:1", "repository:b:pull") == "Bearer t2"
    assert asked[0] == "http://r:2/token?service=s&scope=repository%3Aa%3Apull"
    now[0] = 116.0  # within 5 s of expiry: refreshed
    assert await auth.authorization("r:1", "repository:a:pull") == "Bearer t3"
    assert len(asked) == 3


async def test_token_auth_and_cache(token_registry: RunningRegistry, store: ContentStore) -> None:
    server = token_registry.token_server
    assert server is not None and token_registry.credentials is not None
    image = make_image([busybox_layer(), make_layer({"a": b"a"})])
    token_registry.push(NAME, image)
    before = server.count
    insecure = (token_registry.host, server.host)
    credentials = {token_registry.host: token_registry.credentials}
    async with RegistryClient(store, insecure=insecure, credentials=credentials) as client:
        first = await client.pull(ref_for(token_registry.host))
        second = await client.pull(ref_for(token_registry.host))
        assert client.token_requests == 1
    assert_pulled(store, first, image)
    assert second.manifest_digest == image.digest
    asked = server.requests[before:]
    assert len(asked) == 1
    assert (asked[0].user, asked[0].scopes, asked[0].granted) == (
        "berth",
        [f"repository:{NAME}:pull"],
        True,
    )


async def test_token_auth_wrong_password(
    token_registry: RunningRegistry, store: ContentStore
) -> None:
    server = token_registry.token_server
    assert server is not None
    token_registry.push(NAME, busybox_image())
    with pytest.raises(Unauthorized) as caught:
        await pull(
            store,
            token_registry.host,
            insecure=(token_registry.host, server.host),
            credentials={token_registry.host: ("berth", "wrong-password")},
        )
    assert str(caught.value) == (
        f'Get "{server.realm}": unauthorized: incorrect username or password'
    )
    assert "wrong-password" not in str(caught.value)


async def test_token_auth_anonymous_is_denied(
    token_registry: RunningRegistry, store: ContentStore
) -> None:
    server = token_registry.token_server
    assert server is not None
    token_registry.push(NAME, busybox_image())
    with pytest.raises(NotFound) as caught:
        await pull(store, token_registry.host, insecure=(token_registry.host, server.host))
    assert str(caught.value) == (
        f"pull access denied for {token_registry.host}/{NAME}, repository does not exist or "
        "may require 'docker login': unauthorized: authentication required"
    )


async def test_plain_http_realm_on_the_insecure_registry_host(
    token_registry: RunningRegistry, store: ContentStore
) -> None:
    """The fixture's realm is http://127.0.0.1:<other port>: allowed because the registry
    127.0.0.1:<port> is insecure and the realm has the same host name."""
    server = token_registry.token_server
    assert server is not None and token_registry.credentials is not None
    image = busybox_image()
    token_registry.push(NAME, image)
    pulled = await pull(
        store,
        token_registry.host,
        insecure=(token_registry.host,),
        credentials={token_registry.host: token_registry.credentials},
    )
    assert pulled.manifest_digest == image.digest


async def test_no_plain_http_realm_on_another_host(store: ContentStore) -> None:
    with FakeHTTPServer(lambda seen: Reply(200, {}, b'{"token":"t"}')) as tokens:
        realm = f"http://localhost:{tokens.host.rsplit(':', 1)[1]}/token"

        def route(seen: Seen) -> Reply:
            return Reply(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})

        with FakeHTTPServer(route) as server:
            with pytest.raises(Unauthorized) as caught:
                await pull(store, server.host, credentials={server.host: ("user", PASSWORD)})
            assert str(caught.value) == (
                f"refusing to fetch a token for {server.host} from {realm} over plain HTTP: "
                f"{realm.split('/')[2]} is not an insecure registry"
            )
        assert tokens.requests() == []


async def test_basic_auth(basic_registry: RunningRegistry, store: ContentStore) -> None:
    assert basic_registry.credentials is not None
    image = busybox_image()
    basic_registry.push(NAME, image)
    pulled = await pull(
        store, basic_registry.host, credentials={basic_registry.host: basic_registry.credentials}
    )
    assert_pulled(store, pulled, image)
    with pytest.raises(NotFound, match=r"^pull access denied for"):
        await pull(ContentStore(store.root.parent / "other"), basic_registry.host)


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


async def test_secrets_never_in_error_messages(store: ContentStore) -> None:
    token = "tok-" + "S3CRET" * 10

    def route(seen: Seen) -> Reply:
        auth = seen.headers.get("authorization", "")
        if seen.path.startswith("/token"):
            return Reply(
                200, {"Content-Type": "application/json"}, json.dumps({"token": token}).encode()
            )
        if not auth:
            challenge = 'Bearer realm="http://HOST/token",service="svc"'.replace("HOST", host)
            return Reply(401, {"WWW-Authenticate": challenge}, b"")
        message = f"you sent {auth} and the token {auth.removeprefix('Bearer ')}"
        body = json.dumps({"errors": [{"code": "UNKNOWN", "message": message}]})
        return Reply(500, {"Content-Type": "application/json"}, body.encode())

    with FakeHTTPServer(route) as server:
        host = server.host
        with pytest.raises(Unavailable) as caught:
            await pull(store, server.host, credentials={server.host: ("user", PASSWORD)})
    message = str(caught.value)
    assert "[REDACTED]" in message
    assert token not in message and PASSWORD not in message
    assert message.startswith("received unexpected HTTP status: 500 Internal Server Error")


async def test_basic_credentials_redacted(store: ContentStore) -> None:
    def route(seen: Seen) -> Reply:
        auth = seen.headers.get("authorization")
        if not auth:
            return Reply(401, {"WWW-Authenticate": 'Basic realm="x"'}, b"")
        body = json.dumps({"errors": [{"code": "DENIED", "message": f"echo {auth}"}]})
        return Reply(403, {"Content-Type": "application/json"}, body.encode())

    with (
        FakeHTTPServer(route) as server,
        pytest.raises(NotFound) as caught,
    ):
        await pull(store, server.host, credentials={server.host: ("user", PASSWORD)})
    assert "Basic [REDACTED]" in str(caught.value)


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


# -- progress --------------------------------------------------------------------------


async def test_progress_messages_in_docker_order(
    registry: RunningRegistry, store: ContentStore
) -> None:
    present = make_layer({"a": b"present"})
    fresh = busybox_layer()
    image = make_image([present, fresh])
    registry.push(NAME, image)
    store.write_bytes(present.digest, present.blob.data)
    messages: list[dict[str, Any]] = []
    await pull(store, registry.host, progress=messages.append)
    old, new = present.digest[7:19], fresh.digest[7:19]
    assert messages[0] == {"status": "Pulling from library/busybox", "id": "latest"}
    assert messages[1] == {"status": "Already exists", "progressDetail": {}, "id": old}
    assert messages[2] == {"status": "Pulling fs layer", "progressDetail": {}, "id": new}
    assert messages[-2:] == [
        {"status": "Verifying Checksum", "progressDetail": {}, "id": new},
        {"status": "Download complete", "progressDetail": {}, "id": new},
    ]
    downloading = messages[3:-2]
    assert downloading and all(m["status"] == "Downloading" for m in downloading)
    currents = [m["progressDetail"]["current"] for m in downloading]
    assert currents == sorted(currents) and currents[-1] <= fresh.blob.size
    for m in downloading:
        assert list(m) == ["status", "progressDetail", "progress", "id"]
        assert m["progressDetail"]["total"] == fresh.blob.size and m["id"] == new
        assert m["progress"].endswith(f"/{human_size(fresh.blob.size)}")
    assert list(messages[2]) == ["status", "progressDetail", "id"]


async def test_progress_waiting_beyond_max_parallel(
    registry: RunningRegistry, store: ContentStore
) -> None:
    layers = [make_layer({f"f{i}": bytes([i]) * 1000}) for i in range(3)]
    registry.push(NAME, make_image(layers))
    messages: list[dict[str, Any]] = []
    await pull(store, registry.host, progress=messages.append, max_parallel=1)
    ids = [layer.digest[7:19] for layer in layers]
    steps = [(m["status"], m.get("id")) for m in messages if m["status"] != "Downloading"]
    assert steps == [
        ("Pulling from library/busybox", "latest"),
        *[("Pulling fs layer", i) for i in ids],
        ("Waiting", ids[1]),
        ("Waiting", ids[2]),
        *[step for i in ids for step in (("Verifying Checksum", i), ("Download complete", i))],
    ]


def test_progress_message_shapes() -> None:
    # Byte for byte what dockerd 20.10 sent (shared/reference/docker-api-capture/01-pull.txt).
    assert json.dumps(
        progress_message("Downloading", "7b73e9425f90", 36445, 1084263), separators=(",", ":")
    ) == (
        '{"status":"Downloading","progressDetail":{"current":36445,"total":1084263},'
        '"progress":"[=>                                                 ]  36.45kB/1.084MB",'
        '"id":"7b73e9425f90"}'
    )
    assert progress_message("Extracting", "x", 1084263, 1084263)["progress"] == (
        "[" + "=" * 50 + ">]  1.084MB/1.084MB"
    )
    assert progress_message("Pulling from library/busybox", "latest") == {
        "status": "Pulling from library/busybox",
        "id": "latest",
    }
    assert progress_message("Pull complete", "7b73e9425f90") == {
        "status": "Pull complete",
        "progressDetail": {},
        "id": "7b73e9425f90",
    }
    assert progress_message("Digest: sha256:abc") == {"status": "Digest: sha256:abc"}
    assert human_size(512) == "512B" and human_size(753664) == "753.7kB"


def test_download_meter_throttles() -> None:
    now = [0.0]
    meter = DownloadMeter(100 * 1024 * 1024, clock=lambda: now[0])
    sent = [meter.add(64 * 1024) for _ in range(100)]  # no time passes
    assert sent.count(True) == 1
    now[0] += 0.1
    assert meter.add(600 * 1024) is True
    assert meter.add(1) is False  # below 512 KiB since the last update
    small = DownloadMeter(1000, clock=lambda: now[0])
    assert small.add(999) is True
    assert small.add(1) is True  # the last bytes are always reported
