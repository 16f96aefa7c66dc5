"""Blobs and a manifest from the content store to a registry: `docker push`'s wire half.

Each blob is checked first (`HEAD`), then mounted from another repository of the same
registry when the image came from one (`POST ?mount=&from=`), else uploaded: a blob up
to `CHUNK` bytes in one `PUT` (monolithic), a larger one as `PATCH`es of `CHUNK` bytes
with their `Content-Range`, closed by a `PUT ?digest=`. The manifest goes last, so the
registry never names an image whose blobs it lacks. Progress is dockerd's push stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from berth.adapters.content import Blobs
from berth.adapters.lazy_modules import lazy_module
from berth.domain.errors import NotFound
from berth.domain.reference import ImageReference

from .errors import RegistryError, Unauthorized, _registry_errors
from .progress import DownloadMeter, ProgressCallback, progress_message
from .transport import Repo, Transport

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

CHUNK = 64 * 1024 * 1024
READ_SIZE = 4 * 1024 * 1024
MAX_PARALLEL = 5  # dockerd's max-concurrent-uploads
OCTETS = {"Content-Type": "application/octet-stream"}
Shown = Callable[[int], None]


@dataclass(frozen=True)
class PushBlob:
    """A blob of the image to push; `label` is its progress id ("" for the config)."""

    digest: str
    size: int
    label: str = ""


@dataclass(frozen=True)
class Pushed:
    digest: str
    size: int


class Uploads:
    """The blob and manifest uploads of one push, through a registry `Transport`."""

    def __init__(
        self, transport: Transport, content: Blobs, ref: ImageReference, chunk: int = CHUNK
    ) -> None:
        self._chunk = chunk
        self._transport = transport
        self._content = content
        self._ref = ref
        self._limiter = trio.CapacityLimiter(MAX_PARALLEL)
        self.repo = transport.repo(ref, f"repository:{ref.path}:pull,push")

    async def push(
        self,
        blobs: Sequence[PushBlob],
        manifest: bytes,
        media_type: str,
        tag: str,
        progress: ProgressCallback,
        mount_from: str | None = None,
    ) -> Pushed:
        """Every blob, then the manifest under `tag`; answers the manifest's digest."""
        repo = self.repo
        if mount_from and mount_from != self._ref.path:
            scope = f"{repo.scope} repository:{mount_from}:pull"
            repo = self.repo = Repo(repo.ref, repo.host, repo.scheme, scope)
        await self._transport.ping(repo)
        for blob in blobs:
            if blob.label:
                progress(progress_message("Preparing", blob.label))
        failures: list[Exception] = []
        async with trio.open_nursery() as nursery:
            for blob in blobs:
                nursery.start_soon(self._push_blob, blob, progress, mount_from, failures, nursery)
        if failures:
            raise failures[0]
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        headers = {"Content-Type": media_type}
        url = repo.url(f"manifests/{tag}")
        response = await self._transport.request("PUT", repo, url, headers, lambda: manifest)
        await self._expect(response, 201)
        await response.aclose()
        return Pushed(digest, len(manifest))

    async def _push_blob(
        self,
        blob: PushBlob,
        progress: ProgressCallback,
        mount_from: str | None,
        failures: list[Exception],
        nursery: trio.Nursery,
    ) -> None:
        try:
            async with self._limiter:
                state = await self._upload(blob, progress, mount_from)
        except Exception as exc:
            # The push has failed: it raises this one error, not a group of it and the
            # cancellations it caused in the other uploads.
            failures.append(exc)
            nursery.cancel_scope.cancel()
            return
        if blob.label:
            progress(progress_message(state, blob.label))

    async def _upload(
        self, blob: PushBlob, progress: ProgressCallback, mount_from: str | None
    ) -> str:
        """The blob in the repository; answers the progress status that says how."""
        transport, repo = self._transport, self.repo
        head = await transport.request("HEAD", repo, repo.url(f"blobs/{blob.digest}"), {})
        await head.aclose()
        if head.status_code == 200:
            return "Layer already exists"
        start = repo.url("blobs/uploads/")
        mounting = bool(mount_from) and mount_from != self._ref.path
        if mounting:
            start += f"?mount={blob.digest}&from={mount_from}"
        response = await transport.request("POST", repo, start, {})
        if mounting and response.status_code == 201:
            await response.aclose()
            return f"Mounted from {mount_from}"
        location = await self._location(response, 202)
        meter = DownloadMeter(blob.size)

        def shown(count: int) -> None:
            if blob.label and meter.add(count):
                progress(progress_message("Pushing", blob.label, meter.current, blob.size))

        if blob.size <= self._chunk:
            location = await self._send_chunk("PUT", location, blob, 0, blob.size, shown)
        else:
            offset = 0
            while offset < blob.size:
                end = min(offset + self._chunk, blob.size)
                location = await self._send_chunk("PATCH", location, blob, offset, end, shown)
                offset = end
            location = await self._send_chunk("PUT", location, blob, blob.size, blob.size, shown)
        return "Pushed"

    async def _send_chunk(
        self, method: str, location: httpx.URL, blob: PushBlob, start: int, end: int, shown: Shown
    ) -> httpx.URL:
        """Bytes [start, end) of the blob; a PUT closes the upload with the digest."""
        headers = dict(OCTETS)
        url = location
        if method == "PATCH":
            headers["Content-Range"] = f"{start}-{end - 1}"
        else:
            url = location.copy_add_param("digest", blob.digest)
        headers["Content-Length"] = str(end - start)
        response = await self._transport.request(
            method,
            self.repo,
            str(url),
            headers,
            lambda: self._read(blob.digest, start, end, shown),
        )
        return await self._location(response, 201 if method == "PUT" else 202)

    async def _read(self, digest: str, start: int, end: int, shown: Shown) -> AsyncIterator[bytes]:
        stream = self._content.open(digest)
        try:
            await trio.to_thread.run_sync(stream.seek, start)
            left = end - start
            while left > 0:
                chunk = await trio.to_thread.run_sync(stream.read, min(READ_SIZE, left))
                if not chunk:
                    raise RegistryError(f"blob {digest} is shorter than its recorded size")
                left -= len(chunk)
                shown(len(chunk))
                yield chunk
        finally:
            stream.close()

    async def _location(self, response: httpx.Response, status: int) -> httpx.URL:
        """The upload's next URL (Location), which must stay on the registry's host."""
        await self._expect(response, status)
        await response.aclose()
        location = httpx.URL(self.repo.url("")).join(response.headers.get("location", ""))
        if location.netloc.decode("ascii") != self.repo.host:
            raise RegistryError(f"refusing an upload location on another host: {location.host}")
        return location

    async def _expect(self, response: httpx.Response, status: int) -> None:
        if response.status_code == status:
            return
        body = b""
        if response.request.method != "HEAD":
            body = await self._transport.read_body(response, 64 * 1024, "an error")
        await response.aclose()
        raise push_error(response.status_code, body, self._ref)


def push_error(status: int, body: bytes, ref: ImageReference) -> Exception:
    """What a refused push means, in dockerd's words (`unauthorized: ...`, `denied: ...`)."""
    errors = _registry_errors(body)
    code, message = errors[0] if errors else ("", "")
    text = f"{code.lower().replace('_', ' ')}: {message}" if code else ""
    if status == 401:
        return Unauthorized(text or "unauthorized: authentication required")
    if status == 403:
        return Unauthorized(text or "denied: requested access to the resource is denied")
    if code == "NAME_UNKNOWN":
        return NotFound(f"repository {ref.familiar_name} not found: {text}")
    return RegistryError(
        f"received unexpected HTTP status: {status}" + (f": {text}" if text else "")
    )
