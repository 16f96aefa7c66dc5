"""`/containers/...`: create, start, stop, kill, restart, pause, unpause, rename, wait,
attach, logs, inspect, list, remove, prune — with Docker's shapes and status codes."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import Any

import trio

from berth.adapters.logs import LogLine, Selection, log_batches
from berth.domain.container import LISTED_WITHOUT_ALL, Container, ContainerState
from berth.domain.errors import BerthError, InvalidParameter, NotFound
from berth.domain.signals import DEFAULT_KILL_SIGNAL

from ..service.engine import Engine
from ..views.filters import label_matches, parse_query_filters, pattern_filter
from .params import go_int, unix_time
from .server import (
    App,
    HijackReply,
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
LIST_FILTERS = ("status", "name", "id", "label", "ancestor", "exited", "before", "since")
# container.IsValidStateString: a status filter naming no state is dockerd's 400.
STATUS_VALUES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
_EXITED = re.compile(r"Exited \((-?\d+)\)")


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
    timeout = request.integer("t")
    await app.runner.restart(
        request.params["id"], request.actor, 10 if timeout is None else timeout
    )
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
    await app.runner.remove(request.params["id"], request.actor, request.flag("force"))
    return no_content()


async def prune(app: App, request: Request) -> Reply:
    removed = await app.runner.prune(request.actor)
    return json_reply({"ContainersDeleted": removed, "SpaceReclaimed": 0})


async def inspect(app: App, request: Request) -> Reply:
    doc = await trio.to_thread.run_sync(app.engine.inspect_container, request.params["id"])
    return json_reply(doc)


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


def list_filtered(
    engine: Engine, all_: bool, limit: int | None, filters: dict[str, list[str]]
) -> list[Any]:
    """`/containers/json` (and `berth ps`): Docker's `all`, `limit` and `filters`."""
    entries = engine.list_containers(all=True, now=datetime.now(UTC))
    if not all_ and limit is None and not filters.get("status") and "exited" not in filters:
        entries = [e for e in entries if e["State"] in LISTED_WITHOUT_ALL]
    if "before" in filters or "since" in filters:
        ids = [e["Id"] for e in entries]  # newest first
        for key in ("before", "since"):
            for ref in filters.get(key, []):
                anchor = engine.resolve_container(ref)
                if anchor not in ids:
                    raise NotFound(f"No such container: {ref}")
                at = ids.index(anchor)
                kept = set(ids[at + 1 :] if key == "before" else ids[:at])
                entries = [e for e in entries if e["Id"] in kept]
    ancestors: set[str] = set()
    for ref in filters.get("ancestor", []):
        ancestors.add(ref)
        with contextlib.suppress(BerthError, ValueError):
            ancestors.add(engine.images.resolve(ref))
    for status in filters.get("status", []):
        if status not in STATUS_VALUES:
            raise InvalidParameter(f"invalid filter 'status={status}'")
    names = [pattern_filter("name", pattern) for pattern in filters.get("name", [])]
    exited = []
    for text in filters.get("exited", []):
        try:
            exited.append(int(text))
        except ValueError:
            raise InvalidParameter(f"invalid filter 'exited={text}'") from None

    def keep(entry: dict[str, Any]) -> bool:
        if "status" in filters and entry["State"] not in filters["status"]:
            return False
        if "id" in filters and not any(entry["Id"].startswith(v) for v in filters["id"]):
            return False
        name = entry["Names"][0].lstrip("/") if entry["Names"] else ""
        # dockerd tries the name with and without its leading slash.
        if names and not any(m(name) or m("/" + name) for m in names):
            return False
        labels = entry.get("Labels") or {}
        if "label" in filters and not all(label_matches(labels, v) for v in filters["label"]):
            return False
        if ancestors and not ({entry["Image"], entry["ImageID"]} & ancestors):
            return False
        if exited:
            found = _EXITED.search(entry.get("Status") or "")
            if entry["State"] != "exited" or not found or int(found.group(1)) not in exited:
                return False
        return True

    entries = [e for e in entries if keep(e)]
    if limit is not None and limit > 0:
        entries = entries[:limit]
    return entries


async def list_containers(app: App, request: Request) -> Reply:
    all_ = request.flag("all")
    limit = request.integer("limit")
    filters = parse_query_filters(request.text("filters"), LIST_FILTERS)
    return json_reply(
        await trio.to_thread.run_sync(list_filtered, app.engine, all_, limit, filters)
    )


# Logs and attach -----------------------------------------------------------------------------


def _time_param(request: Request, name: str) -> datetime | None:
    text = request.text(name)
    if not text or text == "0":
        return None
    return unix_time(name, text)


def _tail(request: Request) -> int | None:
    text = request.text("tail", "all")
    if text in ("", "all"):
        return None
    return go_int("tail", text)


async def logs(app: App, request: Request) -> StreamReply:
    stdout, stderr = request.flag("stdout"), request.flag("stderr")
    if not (stdout or stderr):
        raise InvalidParameter("Bad parameters: you must choose at least one stream")
    container_id = await _resolve(app, request.params["id"])
    follow, timestamps = request.flag("follow"), request.flag("timestamps")
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
            await write(_frames(batch, timestamps))

    return StreamReply(produce, content_type=None)


def _frames(lines: list[LogLine], timestamps: bool = False) -> bytes:
    """A batch of lines as one write: one chunk on the wire rather than one per line."""
    return b"".join(log_frame(line, timestamps) for line in lines)


async def attach(app: App, request: Request) -> HijackReply:
    container_id = await _resolve(app, request.params["id"])
    stdout, stderr = request.flag("stdout"), request.flag("stderr")
    with_logs = request.flag("logs")
    stream = request.flag("stream")
    first: Container = await trio.to_thread.run_sync(app.engine.get_aggregate, container_id)
    first_state, first_version = first.state, first.version
    path = app.runner.log_path(container_id)

    async def produce(write: Write) -> None:
        if not (stdout or stderr):
            return
        if not stream:
            if with_logs:
                async for batch in log_batches(path, Selection(stdout, stderr)):
                    await write(_frames(batch))
            return
        done = False

        async def watch_state(cancel: trio.CancelScope) -> None:
            nonlocal done
            while True:
                container = await trio.to_thread.run_sync(app.engine.find_aggregate, container_id)
                if container is None or (
                    container.state in ENDED
                    and (first_state not in ENDED or container.version > first_version)
                ):
                    done = True
                    return
                await trio.sleep(POLL_S)

        from_start = with_logs or first_state is ContainerState.CREATED
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_state, nursery.cancel_scope)
            async for batch in log_batches(
                path,
                Selection(stdout, stderr),
                tail=None if from_start else 0,
                until_exit=lambda: done,
            ):
                await write(_frames(batch))
            nursery.cancel_scope.cancel()

    return HijackReply(produce)


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
    router.add("POST", f"{ID}/attach", attach)
    router.add("DELETE", ID, remove)
