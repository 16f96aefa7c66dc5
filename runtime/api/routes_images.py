"""`/images/...`: pull (`create?fromImage`), import (`create?fromSrc=-`), list, inspect,
tag, remove, load."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import tarfile
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import trio

from berth.domain.commit import imported_config
from berth.domain.errors import BerthError, InvalidParameter
from berth.domain.registry_auth import decode_registry_auth

from ..service import disk_usage
from ..service.image_prune import PRUNE_FILTERS, prune_images
from ..views.filters import parse_query_filters
from ..views.image_list import select_images
from ..views.prune_filters import prune_filters
from .params import host_platform_only
from .server import (
    App,
    Reply,
    Request,
    Router,
    StreamReply,
    Write,
    json_line,
    json_reply,
)

log = logging.getLogger("berth.api")
NAME = r"/images/(?P<name>.+)"
Progress = Callable[[dict[str, Any]], None]
ARCHIVE_ERRORS = (tarfile.TarError, ValueError, KeyError, TypeError, EOFError, OSError)


@contextlib.contextmanager
def archive_errors() -> Iterator[None]:
    """A client's broken archive is a 400, also from inside a nursery's group."""
    try:
        yield
    except Exception as error:
        leaf: BaseException = error
        while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
            leaf = leaf.exceptions[0]
        if isinstance(leaf, BerthError):
            raise leaf from error
        if isinstance(leaf, ARCHIVE_ERRORS):
            raise InvalidParameter(f"invalid image archive: {leaf}") from error
        raise


def _error_line(text: str) -> bytes:
    """Docker's JSON-stream message for an error that ends the stream."""
    return json_line({"errorDetail": {"message": text}, "error": text})


def _reference(image: str, tag: str) -> str:
    if not tag:
        return image
    return f"{image}@{tag}" if tag.startswith("sha256:") else f"{image}:{tag}"


async def create(app: App, request: Request) -> Reply | StreamReply:
    from_image, from_src = request.text("fromImage"), request.text("fromSrc")
    host_platform_only(request.text("platform"))
    if from_src:
        return await _import(app, request, from_src)
    if not from_image:
        raise InvalidParameter("fromImage or fromSrc is required")
    ref = _reference(from_image, request.text("tag"))
    auth = decode_registry_auth(request.headers.get("x-registry-auth", ""))
    return progress_stream(
        lambda progress: app.images.pull(ref, request.actor, progress, auth), f"pull of {ref}"
    )


def progress_stream(work: Callable[[Progress], Awaitable[object]], what: str) -> StreamReply:
    """Docker's JSON progress stream of `work`; an error after the first message is the
    stream's last message, as dockerd sends it."""
    token = trio.lowlevel.current_trio_token()

    async def produce(write: Write) -> None:
        send, receive = trio.open_memory_channel[dict[str, Any]](math.inf)
        failure: list[BaseException] = []

        def progress(message: dict[str, Any]) -> None:
            try:
                trio.lowlevel.current_trio_token()
            except RuntimeError:  # called from a worker thread
                trio.from_thread.run_sync(send.send_nowait, message, trio_token=token)
                return
            send.send_nowait(message)

        async def run() -> None:
            with send:
                try:
                    await work(progress)
                except Exception as error:
                    failure.append(error)

        written = False
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            async for message in receive:
                await write(json_line(message))
                written = True
        if failure:
            error = failure[0]
            if not written:
                raise error
            if isinstance(error, BerthError):
                text = error.message
            else:
                log.error("%s failed", what, exc_info=error)
                text = str(error) or type(error).__name__
            await write(_error_line(text))

    return StreamReply(produce, lazy=True)


async def _import(app: App, request: Request, from_src: str) -> Reply:
    if from_src != "-":
        raise InvalidParameter("importing from a URL is not supported; send the tarball")
    assert request.upload is not None
    repo = request.text("repo")
    reference = _reference(repo, request.text("tag")) if repo else None
    config = imported_config(request.texts("changes"))
    with archive_errors():
        image_id = await app.images.import_rootfs(
            request.upload, reference, request.actor, request.text("message"), config
        )
    return Reply(200, json_line({"status": image_id}))


async def load(app: App, request: Request) -> Reply:
    assert request.upload is not None
    try:
        if request.upload.stat().st_size == 0:
            raise InvalidParameter("empty image archive")
        with archive_errors():
            loaded = await app.images.load(request.upload, request.actor)
    except BerthError as refused:
        # dockerd answers a load it refuses with 200 and the error in the stream (docker-py
        # raises ImageLoadError from it, the docker CLI prints it); nothing is loaded.
        return Reply(200, _error_line(refused.message))
    return Reply(200, b"".join(json_line({"stream": line + "\n"}) for line in loaded))


async def list_images(app: App, request: Request) -> Reply:
    filters = parse_query_filters(request.text("filters"))
    entries = await trio.to_thread.run_sync(app.engine.images.list_entries)
    return json_reply(select_images(entries, filters))


async def inspect(app: App, request: Request) -> Reply:
    name = request.params["name"]
    return json_reply(await trio.to_thread.run_sync(app.engine.images.inspect, name))


async def tag(app: App, request: Request) -> Reply:
    repo = request.text("repo")
    if not repo:
        raise InvalidParameter("repository name must have at least one component")
    target = _reference(repo, request.text("tag") or "latest")
    source = request.params["name"]
    await trio.to_thread.run_sync(lambda: app.engine.images.tag(source, target, request.actor))
    return Reply(201, b"", None)


async def remove(app: App, request: Request) -> Reply:
    answer = await app.images.remove(request.params["name"], request.actor, request.flag("force"))
    return json_reply(answer)


async def build(app: App, request: Request) -> Reply:
    # A refusal that names what is missing, where a missing route would be a 404 that no
    # dockerd answers (docker-py's images.build reads it as "no such image").
    raise InvalidParameter("docker build is not supported by berth: build elsewhere, then load")


async def history(app: App, request: Request) -> Reply:
    found = functools.partial(disk_usage.image_history, app.images, request.params["name"])
    return json_reply(await trio.to_thread.run_sync(found))


async def prune(app: App, request: Request) -> Reply:
    filters = parse_query_filters(request.text("filters"))
    spared = prune_filters(filters, PRUNE_FILTERS, app.engine.now())
    return json_reply(await prune_images(app.images, spared, request.actor))


async def search(app: App, request: Request) -> Reply:
    # dockerd asks the registry's v1 search API, which OCI registries (Debian's
    # docker-registry among them) do not serve: refused by name rather than a 404 route.
    raise InvalidParameter("docker search is not supported by berth: browse the registry instead")


async def prune_build_cache(app: App, request: Request) -> Reply:
    # Nothing to prune, truthfully: berth builds nothing, so it keeps no build cache
    # (`docker system prune` asks for this after the images).
    return json_reply({"CachesDeleted": None, "SpaceReclaimed": 0})


def register(router: Router) -> None:
    router.add("POST", "/build", build, upload=True)
    router.add("POST", "/build/prune", prune_build_cache)
    router.add("POST", "/images/prune", prune)
    router.add("GET", "/images/search", search)
    router.add("GET", "/images/json", list_images)
    router.add("POST", "/images/create", create, upload=True)
    router.add("POST", "/images/load", load, upload=True)
    router.add("GET", f"{NAME}/json", inspect)
    router.add("GET", f"{NAME}/history", history)
    router.add("POST", f"{NAME}/tag", tag)
    router.add("DELETE", NAME, remove)
