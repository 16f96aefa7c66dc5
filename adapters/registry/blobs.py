"""Blobs from a registry into the content store: streamed, counted, verified, in parallel.

A blob's bytes become visible in the content store only once their size and digest are
verified (`Blobs.ingest`). Layers download at most `max_parallel` at a time across
all pulls of one client (dockerd's max-concurrent-downloads is 3); the first failure
stops the others and is what the pull raises.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import trio

from berth.adapters.content import Blobs, DigestMismatch
from berth.adapters.lazy_modules import lazy_module
from berth.domain.errors import Unavailable

from .errors import transport_message
from .manifests import Descriptor, LayerDescriptor
from .progress import DownloadMeter, ProgressCallback, progress_message, short_id
from .protocol import LayerReady
from .transport import Repo, Transport

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")


def ignore_progress(message: dict[str, Any]) -> None:
    return None


async def blob_chunks(
    transport: Transport,
    response: httpx.Response,
    desc: Descriptor,
    meter: DownloadMeter | None = None,
    sid: str = "",
    emit: ProgressCallback = ignore_progress,
) -> AsyncGenerator[bytes, None]:
    """The response's body as it arrives; a connection cut short is a wrong size."""
    received = 0
    try:
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if meter is not None and meter.add(len(chunk)):
                emit(meter.message(sid))
            yield chunk
    except httpx.TimeoutException as exc:
        raise Unavailable(transport.redact(transport_message(str(response.url), exc))) from exc
    except httpx.TransportError:
        raise DigestMismatch(
            f"unexpected size: expected {desc.size}, got {received}: "
            "the connection closed before the end of the blob"
        ) from None
    if meter is not None:
        emit(progress_message("Verifying Checksum", sid))


class LayerDownloads:
    """The layer downloads of one client, `max_parallel` at a time."""

    def __init__(self, transport: Transport, content: Blobs, max_parallel: int) -> None:
        self._transport = transport
        self._content = content
        self._max_parallel = max_parallel
        self._limiter: trio.CapacityLimiter | None = None

    async def fetch(
        self,
        repo: Repo,
        layers: list[Descriptor],
        emit: ProgressCallback,
        on_layer: LayerReady | None = None,
    ) -> None:
        """Every layer not yet in the content store, downloaded; `on_layer` as each blob
        becomes available (downloaded, or already there)."""
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
                    self._task, repo, layer, emit, token, failures, nursery, on_layer
                )
                started += 1
            waiting = pending[started:]
            for layer in waiting:
                emit(progress_message("Waiting", short_id(layer.digest)))
            for layer in waiting:
                token = object()
                await limiter.acquire_on_behalf_of(token)
                nursery.start_soon(
                    self._task, repo, layer, emit, token, failures, nursery, on_layer
                )
        if failures:
            raise failures[0]

    async def _task(
        self,
        repo: Repo,
        layer: Descriptor,
        emit: ProgressCallback,
        token: object,
        failures: list[Exception],
        nursery: trio.Nursery,
        on_layer: LayerReady | None = None,
    ) -> None:
        limiter = self._limiter
        assert limiter is not None
        try:
            await self._download(repo, layer, emit)
            if on_layer is not None:
                on_layer(LayerDescriptor(layer.digest, layer.size, layer.media_type))
        except Exception as exc:
            # The pull has failed: record why and stop the other downloads. The pull
            # raises this one error, not a group of it and the cancellations it caused.
            failures.append(exc)
            nursery.cancel_scope.cancel()
        finally:
            limiter.release_on_behalf_of(token)

    async def _download(self, repo: Repo, layer: Descriptor, emit: ProgressCallback) -> None:
        sid = short_id(layer.digest)
        response = await self._transport.get(repo, repo.url(f"blobs/{layer.digest}"))
        try:
            if response.status_code != 200:
                await self._transport.fail(response, repo, digest=layer.digest)
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) != layer.size:
                raise DigestMismatch(f"unexpected size: expected {layer.size}, got {length}")
            meter = DownloadMeter(layer.size)
            chunks = blob_chunks(self._transport, response, layer, meter, sid, emit)
            async with aclosing(chunks) as stream:
                await self._content.ingest(layer.digest, layer.size, stream)
        finally:
            await response.aclose()
        emit(progress_message("Download complete", sid))
