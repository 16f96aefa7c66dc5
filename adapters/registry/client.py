"""The OCI Distribution client: resolve a reference, fetch its manifest, config and layers.

One `httpx.AsyncClient` per RegistryClient, redirects handled here rather than by httpx
so that every hop is checked (scheme, count) and authorized for its own host: a request
carries the registry's Authorization only when it goes to the registry host itself, so
a redirect to a blob CDN or anywhere else never sees a token or a password.

HTTPS is the only scheme, except for hosts listed as insecure (dockerd's
`--insecure-registry`), which are spoken to in plain HTTP. A TLS failure is an error,
never a reason to try again over HTTP.

Everything read from the registry is bounded (manifests 4 MiB, configs 16 MiB, error
bodies 64 KiB) and verified: manifest digests are computed from the bytes, the config
and every layer are checked for size and digest before they become visible in the
content store. Layers download in parallel, at most `max_parallel` at a time across all
pulls of this client (dockerd's max-concurrent-downloads is 3).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import socket
import ssl
from collections.abc import AsyncGenerator, Callable, Collection, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn

import httpx
import trio

from berth.adapters.content import DIGEST_PATTERN, ContentStore, DigestMismatch
from berth.domain.errors import BerthError, InvalidParameter, NotFound, Unavailable
from berth.domain.reference import ImageReference

from .auth import Authorizer, listed_insecure
from .errors import RegistryError, UnsupportedManifest
from .manifests import (
    ACCEPT,
    MAX_CONFIG_SIZE,
    MAX_MANIFEST_SIZE,
    Descriptor,
    ImageIndex,
    ImageManifest,
    LayerDescriptor,
    Schema1Refused,
    parse_document,
    schema1_message,
    select_platform,
)
from .progress import DownloadMeter, ProgressCallback, progress_message, short_id

DOCKER_HUB_HOST = "registry-1.docker.io"
MAX_REDIRECTS = 10
MAX_ERROR_BODY = 64 * 1024
USER_AGENT = "berth/0.1"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HUB_ALIASES = ("docker.io", "index.docker.io", "https://index.docker.io/v1/")


@dataclass(frozen=True)
class PulledImage:
    """What a pull produced; the config and layer blobs are in the content store.

    `manifest_digest` is the image manifest's (for the platform picked out of an index,
    if there was one); `repo_digest` names what the reference resolved to, i.e. the
    index's digest when the tag points at an index, which is what dockerd shows as
    `Digest:` and records in RepoDigests. `index_digest` is that index's digest or None.
    """

    reference: ImageReference
    manifest_digest: str
    manifest_media_type: str
    config_digest: str
    config: dict[str, Any]
    config_bytes: bytes
    layers: list[LayerDescriptor]
    repo_digest: str
    index_digest: str | None = None


@dataclass(frozen=True)
class _Repo:
    ref: ImageReference
    host: str
    scheme: str
    scope: str

    def url(self, tail: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.ref.path}/{tail}"


@dataclass(frozen=True)
class _Fetched:
    body: bytes
    digest: str
    document: ImageManifest | ImageIndex


class RegistryClient:
    """Pulls images from OCI Distribution registries into a ContentStore.

    `insecure`: registries (host:port, or a host name for all its ports) spoken to in
    plain HTTP. `credentials`: user and password per registry host (`docker.io` means
    Docker Hub). `max_parallel`: concurrent layer downloads across all pulls of this
    client. `ssl_context`: trust for HTTPS (default: the system's CA store). Proxy
    settings from the environment are not used.
    """

    def __init__(
        self,
        content: ContentStore,
        *,
        insecure: Collection[str] = (),
        credentials: Mapping[str, tuple[str, str]] = {},
        max_parallel: int = 3,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_parallel < 1:
            raise InvalidParameter("max_parallel must be at least 1")
        self._content = content
        self._insecure = frozenset(insecure)
        self._max_parallel = max_parallel
        creds = {_registry_host(host): pair for host, pair in credentials.items()}
        self._http = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            verify=ssl_context or _default_ssl_context(),
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT},
        )
        self._auth = Authorizer(creds, self._insecure, self._fetch_token)
        self._pinged: set[str] = set()
        self._limiter: trio.CapacityLimiter | None = None
        self._token_lock: trio.Lock | None = None

    @property
    def token_requests(self) -> int:
        """How many token requests this client has made (tokens are cached)."""
        return self._auth.token_requests

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def is_insecure(self, host: str) -> bool:
        """Whether `host` (host:port) is spoken to in plain HTTP (listed by host:port or name)."""
        return listed_insecure(host, self._insecure)

    async def pull(
        self, ref: ImageReference, progress: ProgressCallback | None = None
    ) -> PulledImage:
        """Fetch `ref`'s manifest (linux/amd64 out of an index), config and layers."""
        image = await self.resolve(ref, progress)
        await self.fetch_layers(image, progress)
        return image

    async def resolve(
        self, ref: ImageReference, progress: ProgressCallback | None = None
    ) -> PulledImage:
        """Fetch and verify the manifest and the config; the layers are not fetched yet."""
        emit: ProgressCallback = progress or _ignore
        if ref.digest is not None and not DIGEST_PATTERN.fullmatch(ref.digest):
            raise InvalidParameter(f"unsupported digest {ref.digest}: only sha256 is supported")
        repo = self._repo(ref)
        await self._ping(repo)
        reference = ref.digest or ref.tag or "latest"
        top = await self._fetch_manifest(repo, reference, ref.digest)
        emit(progress_message(f"Pulling from {ref.path}", reference))
        index_digest: str | None = None
        fetched = top
        if isinstance(top.document, ImageIndex):
            entry = select_platform(top.document)
            fetched = await self._fetch_manifest(repo, entry.digest, entry.digest)
            index_digest = top.digest
        manifest = fetched.document
        if not isinstance(manifest, ImageManifest):
            raise UnsupportedManifest(
                f"manifest list entry {fetched.digest} is a manifest list, not an image"
            )
        config_bytes = await self._fetch_config(repo, manifest.config)
        config = _parse_config(config_bytes, len(manifest.layers))
        return PulledImage(
            reference=ref,
            manifest_digest=fetched.digest,
            manifest_media_type=manifest.media_type,
            config_digest=manifest.config.digest,
            config=config,
            config_bytes=config_bytes,
            layers=[LayerDescriptor(d.digest, d.size, d.media_type) for d in manifest.layers],
            repo_digest=f"{ref.repository}@{top.digest}",
            index_digest=index_digest,
        )

    async def fetch_layers(
        self,
        image: PulledImage,
        progress: ProgressCallback | None = None,
        on_layer: Callable[[LayerDescriptor], None] | None = None,
    ) -> None:
        """Download `image`'s layer blobs into the content store, verified, in parallel.

        `on_layer` is called as each blob becomes available (downloaded, or already
        there), so a caller can unpack one layer while the others still download.
        """
        repo = self._repo(image.reference)
        await self._ping(repo)
        descriptors = [
            Descriptor(media_type=layer.media_type, digest=layer.digest, size=layer.size)
            for layer in image.layers
        ]
        await self._download_layers(repo, descriptors, progress or _ignore, on_layer)

    def _repo(self, ref: ImageReference) -> _Repo:
        host = _registry_host(ref.domain)
        scheme = "http" if self.is_insecure(host) else "https"
        return _Repo(ref, host, scheme, f"repository:{ref.path}:pull")

    # -- HTTP ------------------------------------------------------------------------

    async def _ping(self, repo: _Repo) -> None:
        if repo.host in self._pinged:
            return
        url = f"{repo.scheme}://{repo.host}/v2/"
        response = await self._send(url, {})
        try:
            status = response.status_code
            if status == 401:
                self._auth.learn(repo.host, response.headers.get("www-authenticate"))
            elif status != 200:
                message = (
                    f'Get "{url}": received unexpected HTTP status: '
                    f"{status} {response.reason_phrase}"
                )
                raise (Unavailable if status >= 500 or status == 429 else RegistryError)(message)
        finally:
            await response.aclose()
        self._pinged.add(repo.host)

    async def _get(self, repo: _Repo, url: str, accept: str | None = None) -> httpx.Response:
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
            response = await self._send(str(current), headers)
            status = response.status_code
            if (
                status == 401
                and host == repo.host
                and host not in reauthorized
                and self._auth.learn(host, response.headers.get("www-authenticate"))
            ):
                reauthorized.add(host)
                self._auth.forget_token(host, repo.scope)
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
            return await self._auth.authorization(host, scope)

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

    async def _send(self, url: str, headers: dict[str, str]) -> httpx.Response:
        request = self._http.build_request("GET", url, headers=headers)
        try:
            return await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise Unavailable(self._redact(_transport_message(url, exc))) from exc

    async def _fetch_token(self, url: str, headers: dict[str, str]) -> httpx.Response:
        """The Authorizer's way to GET a token realm (it checks the scheme): no redirects."""
        return await self._send(url, headers)

    def _redact(self, text: str) -> str:
        for secret in self._auth.secrets():
            text = text.replace(secret, "[REDACTED]")
        return text

    async def _fail(
        self, response: httpx.Response, repo: _Repo, *, manifest: bool = False, digest: str = ""
    ) -> NoReturn:
        """Raise the error an unexpected response means, with dockerd's wording."""
        try:
            body = await _read_prefix(response, MAX_ERROR_BODY)
        except httpx.TransportError:
            body = b""
        finally:
            await response.aclose()
        error = _error_for(response, body, repo.ref, manifest, digest)
        raise type(error)(self._redact(error.message))

    # -- manifests and config ------------------------------------------------------------

    async def _fetch_manifest(self, repo: _Repo, reference: str, expected: str | None) -> _Fetched:
        response = await self._get(repo, repo.url(f"manifests/{reference}"), ACCEPT)
        try:
            if response.status_code != 200:
                await self._fail(response, repo, manifest=True)
            what = f"manifest for {repo.ref.familiar}"
            body = await self._read_body(response, MAX_MANIFEST_SIZE, what)
        finally:
            await response.aclose()
        # The digest is computed from the bytes; Docker-Content-Digest is not trusted (and
        # for schema 1 it is not even the digest of the bytes served).
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if expected is not None and digest != expected:
            raise DigestMismatch(f"failed to verify digest: expected {expected}, got {digest}")
        try:
            document = parse_document(body, response.headers.get("content-type"))
        except Schema1Refused:
            raise Schema1Refused(schema1_message(repo.ref.familiar)) from None
        await trio.to_thread.run_sync(self._content.write_bytes, digest, body)
        return _Fetched(body, digest, document)

    async def _read_body(self, response: httpx.Response, limit: int, what: str) -> bytes:
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
            raise Unavailable(self._redact(_transport_message(str(response.url), exc))) from exc
        return bytes(data)

    async def _fetch_config(self, repo: _Repo, desc: Descriptor) -> bytes:
        if desc.size > MAX_CONFIG_SIZE:
            raise UnsupportedManifest(
                f"refusing image config {desc.digest}: {desc.size} bytes is larger than "
                f"the limit of {MAX_CONFIG_SIZE} bytes"
            )
        if self._content.has(desc.digest):
            data = self._content.read_bytes(desc.digest, MAX_CONFIG_SIZE)
        else:
            response = await self._get(repo, repo.url(f"blobs/{desc.digest}"))
            try:
                if response.status_code != 200:
                    await self._fail(response, repo, digest=desc.digest)
                chunks = self._blob_chunks(response, desc, None, "", _ignore)
                buffer = bytearray()
                async with aclosing(chunks) as stream:
                    async for chunk in stream:
                        buffer += chunk
                        if len(buffer) > desc.size:
                            raise DigestMismatch(
                                f"unexpected size: expected {desc.size}, got at least {len(buffer)}"
                            )
            finally:
                await response.aclose()
            data = bytes(buffer)
            if len(data) != desc.size:
                raise DigestMismatch(f"unexpected size: expected {desc.size}, got {len(data)}")
            await trio.to_thread.run_sync(self._content.write_bytes, desc.digest, data)
        if len(data) != desc.size:
            raise DigestMismatch(f"unexpected size: expected {desc.size}, got {len(data)}")
        return data

    # -- layers ----------------------------------------------------------------------------

    async def _download_layers(
        self,
        repo: _Repo,
        layers: list[Descriptor],
        emit: ProgressCallback,
        on_layer: Callable[[LayerDescriptor], None] | None = None,
    ) -> None:
        unique = list({layer.digest: layer for layer in layers}.values())
        pending: list[Descriptor] = []
        for layer in unique:
            if self._content.has(layer.digest):
                emit(progress_message("Already exists", short_id(layer.digest)))
                if on_layer is not None:
                    on_layer(LayerDescriptor(layer.digest, layer.size, layer.media_type))
            else:
                emit(progress_message("Pulling fs layer", short_id(layer.digest)))
                pending.append(layer)
        if not pending:
            return
        if self._limiter is None:
            self._limiter = trio.CapacityLimiter(self._max_parallel)
        limiter = self._limiter
        failures: list[Exception] = []
        async with trio.open_nursery() as nursery:
            started = 0
            for layer in pending:
                token = object()
                try:
                    limiter.acquire_on_behalf_of_nowait(token)
                except trio.WouldBlock:
                    break
                nursery.start_soon(
                    self._download_task, repo, layer, emit, token, failures, nursery, on_layer
                )
                started += 1
            waiting = pending[started:]
            for layer in waiting:
                emit(progress_message("Waiting", short_id(layer.digest)))
            for layer in waiting:
                token = object()
                await limiter.acquire_on_behalf_of(token)
                nursery.start_soon(
                    self._download_task, repo, layer, emit, token, failures, nursery, on_layer
                )
        if failures:
            raise failures[0]

    async def _download_task(
        self,
        repo: _Repo,
        layer: Descriptor,
        emit: ProgressCallback,
        token: object,
        failures: list[Exception],
        nursery: trio.Nursery,
        on_layer: Callable[[LayerDescriptor], None] | None = None,
    ) -> None:
        limiter = self._limiter
        assert limiter is not None
        try:
            await self._download_layer(repo, layer, emit)
            if on_layer is not None:
                on_layer(LayerDescriptor(layer.digest, layer.size, layer.media_type))
        except Exception as exc:
            # The pull has failed: record why and stop the other downloads. The pull
            # raises this one error, not a group of it and the cancellations it caused.
            failures.append(exc)
            nursery.cancel_scope.cancel()
        finally:
            limiter.release_on_behalf_of(token)

    async def _download_layer(self, repo: _Repo, layer: Descriptor, emit: ProgressCallback) -> None:
        sid = short_id(layer.digest)
        response = await self._get(repo, repo.url(f"blobs/{layer.digest}"))
        try:
            if response.status_code != 200:
                await self._fail(response, repo, digest=layer.digest)
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) != layer.size:
                raise DigestMismatch(f"unexpected size: expected {layer.size}, got {length}")
            meter = DownloadMeter(layer.size)
            chunks = self._blob_chunks(response, layer, meter, sid, emit)
            async with aclosing(chunks) as stream:
                await self._content.ingest(layer.digest, layer.size, stream)
        finally:
            await response.aclose()
        emit(progress_message("Download complete", sid))

    async def _blob_chunks(
        self,
        response: httpx.Response,
        desc: Descriptor,
        meter: DownloadMeter | None,
        sid: str,
        emit: ProgressCallback,
    ) -> AsyncGenerator[bytes, None]:
        received = 0
        try:
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if meter is not None and meter.add(len(chunk)):
                    emit(meter.message(sid))
                yield chunk
        except httpx.TimeoutException as exc:
            raise Unavailable(self._redact(_transport_message(str(response.url), exc))) from exc
        except httpx.TransportError:
            raise DigestMismatch(
                f"unexpected size: expected {desc.size}, got {received}: "
                "the connection closed before the end of the blob"
            ) from None
        if meter is not None:
            emit(progress_message("Verifying Checksum", sid))


def _ignore(message: dict[str, Any]) -> None:
    return None


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """The system's trust store, built once (it takes a noticeable fraction of a second)."""
    return ssl.create_default_context()


def _registry_host(domain: str) -> str:
    return DOCKER_HUB_HOST if domain in _HUB_ALIASES else domain


def _netloc(url: httpx.URL) -> str:
    return url.netloc.decode("ascii")


def _parse_config(data: bytes, layer_count: int) -> dict[str, Any]:
    try:
        config = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameter("invalid image config: not a JSON document") from None
    if not isinstance(config, dict):
        raise InvalidParameter("invalid image config: not a JSON object")
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise InvalidParameter("invalid image config: no rootfs.diff_ids")
    if len(diff_ids) != layer_count:
        raise InvalidParameter("layers from manifest don't match image configuration")
    return config


async def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    data = bytearray()
    async for chunk in response.aiter_raw():
        data += chunk[: limit - len(data)]
        if len(data) >= limit:
            break
    return bytes(data)


def _registry_errors(body: bytes) -> list[tuple[str, str]]:
    """The (code, message) pairs of a registry error body `{"errors":[…]}`."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return []
    found = []
    for error in errors:
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
            found.append((code if isinstance(code, str) else "UNKNOWN", str(message or "")[:500]))
    return found


def _error_for(
    response: httpx.Response, body: bytes, ref: ImageReference, manifest: bool, digest: str
) -> BerthError:
    status = response.status_code
    errors = _registry_errors(body)
    code, message = errors[0] if errors else ("", "")
    text = f"{code.lower().replace('_', ' ')}: {message}" if code else ""
    if code in ("DENIED", "UNAUTHORIZED") or status in (401, 403):
        return NotFound(
            f"pull access denied for {ref.familiar_name}, repository does not exist or may "
            "require 'docker login'" + (f": {text}" if text else "")
        )
    if code == "NAME_UNKNOWN":
        return NotFound(f"repository {ref.familiar_name} not found: {text}")
    if manifest and (code == "MANIFEST_UNKNOWN" or status == 404):
        return NotFound(
            f"manifest for {ref.familiar} not found: {text or 'manifest unknown: manifest unknown'}"
        )
    if status == 404 or code == "BLOB_UNKNOWN":
        return NotFound(
            f"blob {digest} not found: {text or 'blob unknown: blob unknown to registry'}"
        )
    summary = f"received unexpected HTTP status: {status} {response.reason_phrase}"
    if status == 429 or code == "TOOMANYREQUESTS" or status >= 500:
        return Unavailable(summary + (f": {text}" if text else ""))
    return RegistryError(summary + (f": {text}" if text else ""))


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and everything chained to it, exception groups included."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)
    return seen


def _transport_message(url: str, exc: BaseException) -> str:
    """A dockerd-like message for a failed request: `Get "URL": dial tcp …: …`."""
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    address = f"{parsed.host}:{port}"
    # Without the query: a redirect target's query may hold a signature (presigned URLs).
    where = f'Get "{parsed.copy_with(query=None)}"'
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"{where}: x509: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            reason = str(cause.reason or cause)
            if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
                return f"{where}: http: server gave HTTP response to HTTPS client"
            return f"{where}: tls: {reason.lower().replace('_', ' ')}"
        if isinstance(cause, socket.gaierror):
            return f"{where}: dial tcp: lookup {parsed.host}: {cause.strerror}"
        if isinstance(cause, OSError) and cause.errno is not None:
            if cause.errno == errno.ECONNREFUSED:
                return f"{where}: dial tcp {address}: connect: connection refused"
            return f"{where}: dial tcp {address}: {cause.strerror or errno.errorcode[cause.errno]}"
    if isinstance(exc, httpx.TimeoutException):
        return f"{where}: net/http: timeout ({type(exc).__name__})"
    return f"{where}: {exc or type(exc).__name__}"
