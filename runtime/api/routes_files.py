"""Files in and out of containers: `/containers/{id}/archive` (HEAD, GET, PUT: `docker
cp`), `/containers/{id}/export`, `/containers/{id}/changes` (`docker diff`) and
`POST /commit` — with dockerd's shapes, headers and messages."""

from __future__ import annotations

import base64
import json
from typing import Any

from berth.adapters.snapshots.container_files import PathStat
from berth.domain.errors import InvalidParameter

from ..service.commit import Committer
from ..service.container_files import ContainerFiles
from .server import App, Reply, Request, Router, StreamOut, StreamReply, json_reply

ID = r"/containers/(?P<id>[^/]+)"
STAT_HEADER = "X-Docker-Container-Path-Stat"
TAR = "application/x-tar"


def _files(app: App) -> ContainerFiles:
    return ContainerFiles(app.runner.actions, app.images)


def _path(request: Request) -> str:
    path = request.text("path")
    if not path:
        raise InvalidParameter("bad parameter: path cannot be empty")
    if "\0" in path:
        raise InvalidParameter("bad parameter: path contains a NUL byte")
    return path


def _stat_header(found: PathStat) -> tuple[str, str]:
    encoded = json.dumps(found.doc(), separators=(",", ":")).encode()
    return STAT_HEADER, base64.b64encode(encoded).decode("ascii")


async def stat_archive(app: App, request: Request) -> Reply:
    found = await _files(app).stat(request.params["id"], _path(request))
    return Reply(200, b"", None, headers=[_stat_header(found)])


async def get_archive(app: App, request: Request) -> StreamReply:
    ref, path = request.params["id"], _path(request)
    files = _files(app)
    # The stat (and its 404) comes first; the tar is made as the client reads it.
    found = await files.stat(ref, path)

    async def produce(out: StreamOut) -> None:
        await files.archive(ref, path, out)

    return StreamReply(produce, content_type=TAR, headers=[_stat_header(found)])


async def put_archive(app: App, request: Request) -> Reply:
    path = _path(request)
    assert request.stream is not None
    # dockerd: refusing to replace a directory by a file (or the reverse) is asked for.
    no_overwrite = request.flag("noOverwriteDirNonDir")
    await _files(app).extract(
        request.params["id"],
        path,
        request.stream,
        copy_uid_gid=request.flag("copyUIDGID"),
        no_overwrite=no_overwrite,
    )
    return Reply(200, b"", None)


async def export(app: App, request: Request) -> StreamReply:
    ref = request.params["id"]
    files = _files(app)

    async def produce(out: StreamOut) -> None:
        await files.export(ref, out)

    return StreamReply(produce, content_type=TAR, lazy=True)


async def changes(app: App, request: Request) -> Reply:
    return json_reply(await _files(app).changes(request.params["id"]))


def _commit_body(request: Request) -> dict[str, Any] | None:
    body = request.json()
    if body is None or body == {}:
        return None
    if not isinstance(body, dict):
        raise InvalidParameter("invalid commit config: expected an object")
    return body


async def commit(app: App, request: Request) -> Reply:
    ref = request.text("container")
    if not ref:
        raise InvalidParameter("No such container: ")
    committer = Committer(app.runner, _files(app))
    try:
        image_id = await committer.commit(
            ref,
            actor=request.actor,
            repo=request.text("repo"),
            tag=request.text("tag"),
            author=request.text("author"),
            comment=request.text("comment"),
            pause=request.flag("pause", default=True),
            changes=request.texts("changes"),
            body=_commit_body(request),
        )
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise InvalidParameter(f"invalid commit config: {error}") from None
    return json_reply({"Id": image_id}, 201)


def register(router: Router) -> None:
    router.add("HEAD", f"{ID}/archive", stat_archive)
    router.add("GET", f"{ID}/archive", get_archive)
    router.add("PUT", f"{ID}/archive", put_archive, streamed=True)
    router.add("GET", f"{ID}/export", export)
    router.add("GET", f"{ID}/changes", changes)
    router.add("POST", "/commit", commit)
