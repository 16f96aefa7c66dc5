"""`/containers/...`: create, start, stop, kill, restart, pause, unpause, rename, wait,
logs, inspect, list, remove, prune — with Docker's shapes and status codes (attach and
resize: routes_attach.py)."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

import trio

from berth.adapters.logs import LogLine, Selection, log_batches
from berth.domain.config import HostConfig
from berth.domain.container import ContainerState
from berth.domain.errors import BerthError, InvalidParameter
from berth.domain.log_config import check_readable
from berth.domain.signals import DEFAULT_KILL_SIGNAL

from ..service import disk_usage
from ..service.inspect_paths import with_host_paths
from ..views.container_list import LIST_FILTERS
from ..views.filters import parse_query_filters
from ..views.prune_filters import prune_filters
from .params import go_int, host_platform_only, unix_time
from .server import (
    App,
    Reply,
    Request,
    Router,
    StreamReply,
    Write,
    json_line,
    json_reply,
    no_content,
)
from .streams import log_frame

ID = r"/containers/(?P<id>[^/]+)"
POLL_S = 0.05
ENDED = (
    ContainerState.EXITED,
    ContainerState.DEAD,
    ContainerState.REMOVING,
    ContainerState.REMOVED,
)
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


async def _resolve(app: App, ref: str) -> str:
    container_id: str = await trio.to_thread.run_sync(app.engine.resolve_container, ref)
    return container_id


def _check_shape(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidParameter("config cannot be empty in order to create a container")
    image = body.get("Image")
    if not isinstance(image, str) or not image:
        raise InvalidParameter("config cannot be empty in order to create a container")

    def strings(key: str, value: Any, allow_str: bool = False) -> None:
        if value is None or (allow_str and isinstance(value, str)):
            return
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidParameter(f"invalid {key}: expected a list of strings")

    strings("Cmd", body.get("Cmd"), allow_str=True)
    strings("Entrypoint", body.get("Entrypoint"), allow_str=True)
    strings("Env", body.get("Env"))
    labels = body.get("Labels")
    if labels is not None and not (
        isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())
    ):
        raise InvalidParameter("invalid Labels: expected an object of strings")
    for key in ("HostConfig", "NetworkingConfig"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise InvalidParameter(f"invalid {key}: expected an object")
    return body


async def create(app: App, request: Request) -> Reply:
    # A body may hold tens of thousands of entries: parse and check it off the event loop.
    host_platform_only(request.text("platform"))
    body = await trio.to_thread.run_sync(lambda: _check_shape(request.json()))
    name = request.text("name") or None
    try:
        created = await app.runner.create(body, name, request.actor)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise InvalidParameter(f"invalid container config: {error}") from None
    return json_reply({"Id": created.id, "Warnings": list(created.warnings)}, 201)


async def start(app: App, request: Request) -> Reply:
    await app.runner.start(request.params["id"], request.actor)
    return no_content()


async def stop(app: App, request: Request) -> Reply:
    await app.runner.stop(request.params["id"], request.actor, request.integer("t"))
    return no_content()


async def restart(app: App, request: Request) -> Reply:
    await app.runner.restart(request.params["id"], request.actor, request.integer("t"))
    return no_content()


async def kill(app: App, request: Request) -> Reply:
    signal = request.text("signal") or DEFAULT_KILL_SIGNAL
    await app.runner.kill(request.params["id"], request.actor, signal)
    return no_content()


async def pause(app: App, request: Request) -> Reply:
    await app.runner.pause(request.params["id"], request.actor)
    return no_content()


async def unpause(app: App, request: Request) -> Reply:
    await app.runner.unpause(request.params["id"], request.actor)
    return no_content()


async def rename(app: App, request: Request) -> Reply:
    new_name = request.text("name")
    if not new_name:
        raise InvalidParameter("name cannot be empty")
    ref = request.params["id"]
    await trio.to_thread.run_sync(lambda: app.engine.rename(ref, new_name, request.actor))
    return no_content()


async def remove(app: App, request: Request) -> Reply:
    await app.runner.remove(
        request.params["id"], request.actor, request.flag("force"), request.flag("v")
    )
    return no_content()


async def prune(app: App, request: Request) -> Reply:
    filters = parse_query_filters(request.text("filters"))
    spared = prune_filters(filters, ("until", "label", "label!"), app.engine.now())
    removed, reclaimed = await app.runner.prune(request.actor, spared)
    return json_reply({"ContainersDeleted": removed or None, "SpaceReclaimed": reclaimed})


async def inspect(app: App, request: Request) -> Reply:
    doc = await trio.to_thread.run_sync(app.engine.inspect_container, request.params["id"])
    health = doc["State"].get("Health")
    if health is not None:  # the status is the log's; the results are beside it
        probed = await trio.to_thread.run_sync(app.runner.health.shown, doc["Id"])
        if probed is not None:
            health.update(FailingStreak=probed["FailingStreak"], Log=probed["Log"])
    exec_ids = await app.runner.execs.exec_ids(doc["Id"])
    located = functools.partial(with_host_paths, doc, app.runner.actions, app.images)
    answer = {**await trio.to_thread.run_sync(located), "ExecIDs": exec_ids or None}
    if request.flag("size"):  # `inspect --size`
        sized = functools.partial(disk_usage.with_sizes, app.images, [answer], "Image")
        await trio.to_thread.run_sync(sized)
    return json_reply(answer)


async def wait(app: App, request: Request) -> StreamReply:
    condition = request.text("condition") or "not-running"
    if condition not in WAIT_CONDITIONS:
        raise InvalidParameter(f"invalid condition: {condition!r}")
    container_id = await _resolve(app, request.params["id"])

    async def produce(write: Write) -> None:
        try:
            code = await app.runner.wait_for(container_id, condition)
        except BerthError as error:
            await write(json_line({"Error": {"Message": error.message}, "StatusCode": -1}))
            return
        await write(json_line({"Error": None, "StatusCode": code}))

    return StreamReply(produce)


# Listing -------------------------------------------------------------------------------------


async def list_containers(app: App, request: Request) -> Reply:
    all_ = request.flag("all")
    limit = request.integer("limit")
    filters = parse_query_filters(request.text("filters"), LIST_FILTERS)
    listing = functools.partial(app.engine.container_listing, all_, limit, filters)
    found = await trio.to_thread.run_sync(listing)
    if request.flag("size"):  # `ps --size`: the writable layers walked, as dockerd does
        sized = functools.partial(disk_usage.with_sizes, app.images, json.loads(found))
        return json_reply(await trio.to_thread.run_sync(sized))
    return Reply(200, found)


# Logs and attach -----------------------------------------------------------------------------


def _time_param(request: Request, name: str) -> datetime | None:
    text = request.text(name)
    if not text or text == "0":
        return None
    return unix_time(name, text)


def _tail(request: Request) -> int | None:
    """As dockerd's daemon/logs.go: a tail that is not a number means all the lines."""
    text = request.text("tail", "all")
    try:
        return go_int("tail", text)
    except InvalidParameter:
        return None


async def logs(app: App, request: Request) -> StreamReply:
    stdout, stderr = request.flag("stdout"), request.flag("stderr")
    if not (stdout or stderr):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    container_id = await _resolve(app, request.params["id"])
    container = await trio.to_thread.run_sync(app.engine.get_aggregate, container_id)
    check_readable(HostConfig.from_docker(container.host_config).log_config)
    follow, timestamps = request.flag("follow"), request.flag("timestamps")
    details = request.flag("details")
    since, until, tail = (
        _time_param(request, "since"),
        _time_param(request, "until"),
        _tail(request),
    )
    path = app.runner.log_path(container_id)
    runtime = app.runner.runtime
    selection = Selection(stdout, stderr, since, until)

    async def produce(write: Write) -> None:
        async for batch in log_batches(
            path,
            selection,
            tail=tail,
            until_exit=(lambda: runtime.monitor_pid(container_id) is None) if follow else None,
        ):
            await write(_frames(batch, timestamps, details))

    return StreamReply(produce, content_type=None)


def _frames(lines: list[LogLine], timestamps: bool = False, details: bool = False) -> bytes:
    """A batch of lines as one write: one chunk on the wire rather than one per line."""
    return b"".join(log_frame(line, timestamps, details) for line in lines)


def register(router: Router) -> None:
    router.add("GET", "/containers/json", list_containers)
    router.add("POST", "/containers/create", create)
    router.add("POST", "/containers/prune", prune)
    router.add("GET", f"{ID}/json", inspect)
    router.add("POST", f"{ID}/start", start)
    router.add("POST", f"{ID}/stop", stop)
    router.add("POST", f"{ID}/restart", restart)
    router.add("POST", f"{ID}/kill", kill)
    router.add("POST", f"{ID}/pause", pause)
    router.add("POST", f"{ID}/unpause", unpause)
    router.add("POST", f"{ID}/rename", rename)
    router.add("POST", f"{ID}/wait", wait)
    router.add("GET", f"{ID}/logs", logs)
    router.add("DELETE", ID, remove)
