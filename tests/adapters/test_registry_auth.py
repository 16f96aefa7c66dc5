"""The registry client's authorization: WWW-Authenticate, bearer tokens and their cache,
Basic auth, realms over plain HTTP, and credentials redacted from error messages."""

from __future__ import annotations

import json

import httpx
import pytest

from berth.adapters.content import ContentStore
from berth.adapters.registry import RegistryClient, Unauthorized
from berth.adapters.registry.auth import (
    LOOPBACK_INSECURE,
    Authorizer,
    listed_insecure,
    parse_www_authenticate,
)
from berth.domain.errors import NotFound, Unavailable
from tests.fixtures.images import busybox_image, make_image
from tests.fixtures.layers import busybox_layer, make_layer
from tests.fixtures.registry import PASSWORD, FakeHTTPServer, Reply, RunningRegistry, Seen

from .registry_pulls import NAME, assert_pulled, pull, ref_for


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


def test_insecure_hosts_are_listed_by_address_name_or_cidr() -> None:
    listed = ("10.1.0.0/16", "reg.example", "other:5000", *LOOPBACK_INSECURE)
    for host in ("10.1.2.3:5000", "reg.example:443", "other:5000", "127.0.0.1:5000",
                 "127.9.9.9", "localhost:5000", "[::1]:5000"):  # fmt: skip
        assert listed_insecure(host, listed), host
    for host in ("10.2.0.1:5000", "other:5001", "example.com", "[::2]:5000"):
        assert not listed_insecure(host, listed), host
    assert not listed_insecure("127.0.0.1:5000", ())  # the adapter's default: HTTPS only
