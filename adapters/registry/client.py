"""The OCI Distribution client: resolve a reference, fetch its manifest, config and layers.

How requests travel (redirects, schemes, per-host authorization) is transport.py's; how
blobs arrive in the content store is blobs.py's; this module resolves a reference to a
manifest and a config and checks what they say.

Everything read from the registry is bounded (manifests 4 MiB, configs 16 MiB, error
bodies 64 KiB) and verified: manifest digests are computed from the bytes, the config
and every layer are checked for size and digest before they become visible in the
content store.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Collection, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import trio

from berth.adapters.content import DIGEST_PATTERN, Blobs, DigestMismatch
from berth.domain.errors import InvalidParameter
from berth.domain.reference import ImageReference

from .blobs import LayerDownloads, blob_chunks, ignore_progress
from .errors import Unauthorized, UnsupportedManifest
from .manifests import (
    ACCEPT,
    MAX_CONFIG_SIZE,
    MAX_MANIFEST_SIZE,
    Descriptor,
    ImageIndex,
    ImageManifest,
    Schema1Refused,
    parse_document,
    schema1_message,
    select_platform,
)
from .progress import ProgressCallback, progress_message
from .protocol import LayerReady, PulledImage
from .push import CHUNK, Uploads
from .signatures import Signature, fetch_signatures
from .transport import Repo, Transport


@dataclass(frozen=True)
class _Fetched:
    body: bytes
    digest: str
    document: ImageManifest | ImageIndex


class RegistryClient:
    """Pulls images from OCI Distribution registries into a content store (the real
    `Registry`).

    `insecure`: registries (host:port, or a host name for all its ports) spoken to in
    plain HTTP. `credentials`: user and password per registry host (`docker.io` means
    Docker Hub). `max_parallel`: concurrent layer downloads across all pulls of this
    client. `ssl_context`: trust for HTTPS (default: the system's CA store). Proxy
    settings from the environment are not used.
    """

    def __init__(
        self,
        content: Blobs,
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
        self._insecure, self._max_parallel = tuple(insecure), max_parallel
        self._timeout, self._ssl_context = timeout, ssl_context
        self._transport = Transport(
            insecure=insecure, credentials=credentials, timeout=timeout, ssl_context=ssl_context
        )
        self._payloads: dict[str, bytes] = {}  # signature payloads read, by digest
        self._layers = LayerDownloads(self._transport, content, max_parallel)

    def with_credentials(self, credentials: Mapping[str, tuple[str, str]]) -> RegistryClient:
        """A client like this one that answers challenges with `credentials` (a request's
        X-Registry-Auth); the caller closes it."""
        return RegistryClient(
            self._content,
            insecure=self._insecure,
            credentials=credentials,
            max_parallel=self._max_parallel,
            timeout=self._timeout,
            ssl_context=self._ssl_context,
        )

    def uploads(self, ref: ImageReference, chunk: int = CHUNK) -> Uploads:
        """A push of blobs of the content store and a manifest to `ref`'s repository;
        blobs larger than `chunk` go in PATCHes of that size."""
        return Uploads(self._transport, self._content, ref, chunk)

    async def check_login(self, host: str) -> None:
        """The credentials this client has for `host` are accepted by its registry (or
        its token service): `GET /v2/` answers 200 with them. Else `Unauthorized`."""
        repo = self._transport.repo(ImageReference(host, "login"), scope="")
        await self._transport.ping(repo)
        response = await self._transport.get(repo, f"{repo.scheme}://{host}/v2/")
        await response.aclose()
        if response.status_code != 200:
            raise Unauthorized(
                f"login attempt to {response.url} failed with status: "
                f"{response.status_code} {response.reason_phrase}"
            )

    async def signatures(self, ref: ImageReference, digest: str) -> list[Signature]:
        """cosign's signatures of the manifest `digest` in `ref`'s repository (unverified)."""
        return await fetch_signatures(self._transport, ref, digest, self._payloads)

    @property
    def token_requests(self) -> int:
        """How many token requests this client has made (tokens are cached)."""
        return self._transport.auth.token_requests

    async def aclose(self) -> None:
        await self._transport.aclose()

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
        return self._transport.is_insecure(host)

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
        emit: ProgressCallback = progress or ignore_progress
        if ref.digest is not None and not DIGEST_PATTERN.fullmatch(ref.digest):
            raise InvalidParameter(f"unsupported digest {ref.digest}: only sha256 is supported")
        repo = self._transport.repo(ref)
        await self._transport.ping(repo)
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
        return PulledImage.resolved(
            ref, manifest, fetched.digest, config_bytes, config, index_digest=index_digest
        )

    async def fetch_layers(
        self,
        image: PulledImage,
        progress: ProgressCallback | None = None,
        on_layer: LayerReady | None = None,
    ) -> None:
        """Download `image`'s layer blobs into the content store, verified, in parallel.

        `on_layer` is called as each blob becomes available (downloaded, or already
        there), so a caller can unpack one layer while the others still download.
        """
        repo = self._transport.repo(image.reference)
        await self._transport.ping(repo)
        descriptors = [
            Descriptor(media_type=layer.media_type, digest=layer.digest, size=layer.size)
            for layer in image.layers
        ]
        await self._layers.fetch(repo, descriptors, progress or ignore_progress, on_layer)

    # -- manifests and config ------------------------------------------------------------

    async def _fetch_manifest(self, repo: Repo, reference: str, expected: str | None) -> _Fetched:
        response = await self._transport.get(repo, repo.url(f"manifests/{reference}"), ACCEPT)
        try:
            if response.status_code != 200:
                await self._transport.fail(response, repo, manifest=True)
            what = f"manifest for {repo.ref.familiar}"
            body = await self._transport.read_body(response, MAX_MANIFEST_SIZE, what)
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

    async def _fetch_config(self, repo: Repo, desc: Descriptor) -> bytes:
        if desc.size > MAX_CONFIG_SIZE:
            raise UnsupportedManifest(
                f"refusing image config {desc.digest}: {desc.size} bytes is larger than "
                f"the limit of {MAX_CONFIG_SIZE} bytes"
            )
        if self._content.has(desc.digest):
            data = self._content.read_bytes(desc.digest, MAX_CONFIG_SIZE)
        else:
            response = await self._transport.get(repo, repo.url(f"blobs/{desc.digest}"))
            try:
                if response.status_code != 200:
                    await self._transport.fail(response, repo, digest=desc.digest)
                chunks = blob_chunks(self._transport, response, desc)
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
