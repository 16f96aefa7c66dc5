"""HTTP to registries: one `httpx.AsyncClient`, redirects followed here, auth per host.

Redirects are handled here rather than by httpx so that every hop is checked (scheme,
count) and authorized for its own host: a request carries the registry's Authorization
only when it goes to the registry host itself, so a redirect to a blob CDN or anywhere
else never sees a token or a password.

HTTPS is the only scheme, except for hosts listed as insecure (dockerd's
`--insecure-registry`), which are spoken to in plain HTTP. A TLS failure is an error,
never a reason to try again over HTTP. Error bodies are read up to 64 KiB.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import trio

from berth.adapters.lazy_modules import lazy_module
from berth.domain.errors import Unavailable
from berth.domain.reference import ImageReference

from .auth import Authorizer, listed_insecure
from .errors import RegistryError, UnsupportedManifest, error_for, transport_message

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

DOCKER_HUB_HOST = "registry-1.docker.io"
MAX_REDIRECTS = 10
MAX_ERROR_BODY = 64 * 1024
USER_AGENT = "berth/0.1"
Body = Callable[[], bytes | AsyncIterator[bytes]]
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HUB_ALIASES = ("docker.io", "index.docker.io", "https://index.docker.io/v1/")


@dataclass(frozen=True)
class Repo:
    """One repository of one registry, and the scope a pull of it asks for."""

    ref: ImageReference
    host: str
    scheme: str
    scope: str

    def url(self, tail: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.ref.path}/{tail}"


class Transport:
    """GETs to registries with berth's redirect, scheme and authorization policy."""

    def __init__(
        self,
        *,
        insecure: Collection[str],
        credentials: Mapping[str, tuple[str, str]],
        timeout: float,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._insecure = frozenset(insecure)
        creds = {registry_host(host): pair for host, pair in credentials.items()}
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._clients: dict[bool, httpx.AsyncClient] = {}  # by: over TLS
        self.auth = Authorizer(creds, self._insecure, self.send)
        self._pinged: set[str] = set()
        self._token_lock: trio.Lock | None = None

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    def _http(self, url: str) -> httpx.AsyncClient:
        """The client for `url`'s scheme, made at its first request: httpx waits until a
        registry is spoken to, the trust store (2.5 MB) until one is spoken to over TLS
        (ADR/0048)."""
        tls = url.startswith("https:")
        client = self._clients.get(tls)
        if client is None:
            client = self._clients[tls] = httpx.AsyncClient(
                follow_redirects=False,
                trust_env=False,
                verify=(self._ssl_context or _default_ssl_context()) if tls else False,
                timeout=httpx.Timeout(self._timeout),
                headers={"User-Agent": USER_AGENT},
            )
        return client

    def is_insecure(self, host: str) -> bool:
        """Whether `host` (host:port) is spoken to in plain HTTP (listed by host:port or name)."""
        return listed_insecure(host, self._insecure)

    def repo(self, ref: ImageReference, scope: str | None = None) -> Repo:
        """`ref`'s repository; `scope` replaces the pull scope (a push asks for more, a
        login for none)."""
        host = registry_host(ref.domain)
        scheme = "http" if self.is_insecure(host) else "https"
        return Repo(ref, host, scheme, f"repository:{ref.path}:pull" if scope is None else scope)

    async def ping(self, repo: Repo) -> None:
        """`GET /v2/` once per host: learns its authentication challenge."""
        if repo.host in self._pinged:
            return
        url = f"{repo.scheme}://{repo.host}/v2/"
        response = await self.send(url, {})
        try:
            status = response.status_code
            if status == 401:
                self.auth.learn(repo.host, response.headers.get("www-authenticate"))
            elif status != 200:
                message = (
                    f'Get "{url}": received unexpected HTTP status: '
                    f"{status} {response.reason_phrase}"
                )
                raise (Unavailable if status >= 500 or status == 429 else RegistryError)(message)
        finally:
            await response.aclose()
        self._pinged.add(repo.host)

    async def get(self, repo: Repo, url: str, accept: str | None = None) -> httpx.Response:
        """GET with our redirect policy and per-host authorization; the body is unread."""
        current = httpx.URL(url)
        redirects = 0
        reauthorized: set[str] = set()
        while True:
            self._check_scheme(current)
            host = _netloc(current)
            headers = {"Accept-Encoding": "identity"}
            if accept:
                headers["Accept"] = accept
            if host == repo.host:
                authorization = await self._authorization(host, repo.scope)
                if authorization:
                    headers["Authorization"] = authorization
            response = await self.send(str(current), headers)
            status = response.status_code
            if (
                status == 401
                and host == repo.host
                and host not in reauthorized
                and self.auth.learn(host, response.headers.get("www-authenticate"))
            ):
                reauthorized.add(host)
                self.auth.forget_token(host, repo.scope)
                await response.aclose()
                continue
            if status in _REDIRECTS:
                location = response.headers.get("location")
                await response.aclose()
                redirects += 1
                if not location:
                    raise RegistryError(f'Get "{current}": redirect without a Location')
                if redirects > MAX_REDIRECTS:
                    raise RegistryError(f'Get "{url}": stopped after {MAX_REDIRECTS} redirects')
                current = current.join(location)
                continue
            return response

    async def _authorization(self, host: str, scope: str) -> str | None:
        if self._token_lock is None:
            self._token_lock = trio.Lock()
        async with self._token_lock:
            return await self.auth.authorization(host, scope)

    def _check_scheme(self, url: httpx.URL) -> None:
        host = _netloc(url)
        if url.scheme == "https":
            return
        if url.scheme == "http" and self.is_insecure(host):
            return
        raise RegistryError(
            f"refusing {url.scheme}://{host}: plain HTTP is only used for registries "
            "configured as insecure"
        )

    async def request(
        self,
        method: str,
        repo: Repo,
        url: str,
        headers: Mapping[str, str],
        body: Body | None = None,
    ) -> httpx.Response:
        """A request to the registry itself (no redirects: uploads are never redirected),
        authorized, answered again once after a new challenge. `body` makes the content
        afresh for each attempt. The response's body is unread."""
        reauthorized = False
        while True:
            current = httpx.URL(url)
            self._check_scheme(current)
            sent = dict(headers)
            authorization = await self._authorization(repo.host, repo.scope)
            if authorization:
                sent["Authorization"] = authorization
            response = await self.send(url, sent, method, body() if body else None)
            if (
                response.status_code == 401
                and not reauthorized
                and self.auth.learn(repo.host, response.headers.get("www-authenticate"))
            ):
                reauthorized = True
                self.auth.forget_token(repo.host, repo.scope)
                await response.aclose()
                continue
            return response

    async def send(
        self,
        url: str,
        headers: dict[str, str],
        method: str = "GET",
        content: bytes | AsyncIterator[bytes] | None = None,
    ) -> httpx.Response:
        """One request, no redirects (the Authorizer's way to a token realm, which it checks)."""
        client = self._http(url)
        request = client.build_request(method, url, headers=headers, content=content)
        try:
            return await client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise Unavailable(self.redact(transport_message(url, exc))) from exc

    def redact(self, text: str) -> str:
        for secret in self.auth.secrets():
            text = text.replace(secret, "[REDACTED]")
        return text

    async def fail(
        self, response: httpx.Response, repo: Repo, *, manifest: bool = False, digest: str = ""
    ) -> NoReturn:
        """Raise the error an unexpected response means, with dockerd's wording."""
        try:
            body = await _read_prefix(response, MAX_ERROR_BODY)
        except httpx.TransportError:
            body = b""
        finally:
            await response.aclose()
        error = error_for(response, body, repo.ref, manifest, digest)
        raise type(error)(self.redact(error.message))

    async def read_body(self, response: httpx.Response, limit: int, what: str) -> bytes:
        """The whole body, refused past `limit` bytes."""
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise UnsupportedManifest(f"refusing {what}: larger than the limit of {limit} bytes")
        data = bytearray()
        try:
            async for chunk in response.aiter_raw():
                data += chunk
                if len(data) > limit:
                    raise UnsupportedManifest(
                        f"refusing {what}: larger than the limit of {limit} bytes"
                    )
        except httpx.TransportError as exc:
            raise Unavailable(self.redact(transport_message(str(response.url), exc))) from exc
        return bytes(data)


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """The system's trust store, built once (it takes a noticeable fraction of a second)."""
    return ssl.create_default_context()


def registry_host(domain: str) -> str:
    return DOCKER_HUB_HOST if domain in _HUB_ALIASES else domain


def _netloc(url: httpx.URL) -> str:
    return url.netloc.decode("ascii")


async def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    data = bytearray()
    async for chunk in response.aiter_raw():
        data += chunk[: limit - len(data)]
        if len(data) >= limit:
            break
    return bytes(data)
