"""`/containers/{id}/attach`, `/attach/ws` and `/resize`, as dockerd 20.10 answers them.

An attach that sends stdin, or to a container with a terminal, talks to the container's
stdio through its monitor (service/consoles.py, stdio_copy.py): raw output with a
terminal, stdcopy frames without. One that only reads the output of a container without
a terminal follows its log, as before the monitor held stdin. `logs=1` first replays the
log in either case.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from berth.adapters.logs import LogLine, Selection, log_batches
from berth.domain.config import HostConfig
from berth.domain.container import Container, ContainerState
from berth.domain.detach_keys import parse_detach_keys
from berth.domain.log_config import log_policy

from ..http.messages import RawChannel
from .params import strconv_atoi
from .routes_containers import ENDED, ID, POLL_S, _frames, _resolve
from .server import App, HijackReply, Reply, Request, Router, no_content
from .stdio_copy import StdioCopy, copy_stdio
from .websocket import websocket_key, websocket_reply


def _raw(lines: list[LogLine]) -> bytes:
    """Log lines as a terminal wrote them (one stream, no frames)."""
    return b"".join(line.text if line.partial else line.text + b"\n" for line in lines)


async def _attach_producer(
    app: App,
    request: Request,
    *,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    multiplexed: bool = True,
) -> Callable[[RawChannel], Awaitable[None]]:
    """What talks on the hijacked connection of an attach (plain or websocket)."""
    ref = request.params["id"]
    container_id = await _resolve(app, ref)
    keys = parse_detach_keys(request.text("detachKeys"))
    # dockerd's `attach` event; a paused or restarting container refuses (409). Read after
    # it: a later version than this one means the container moved on (a new exit).
    await trio.to_thread.run_sync(app.engine.attach, ref, request.actor)
    first: Container = await trio.to_thread.run_sync(app.engine.get_aggregate, container_id)
    config = first.config
    tty = bool(config.get("Tty"))
    how = StdioCopy(
        tty=tty,
        frames=multiplexed and not tty,
        stdin=stdin and bool(config.get("OpenStdin")),
        stdout=stdout,
        stderr=stderr,
        close_stdin_on_eof=bool(config.get("StdinOnce")),
        detach_keys=keys,
    )
    with_logs, stream = request.flag("logs"), request.flag("stream")
    path = app.runner.log_path(container_id)

    async def replay_log(channel: RawChannel) -> None:
        async for batch in log_batches(path, Selection(stdout, stderr)):
            await channel.send(_frames(batch) if how.frames else _raw(batch))

    async def to_stdio(channel: RawChannel) -> None:
        if with_logs:
            await replay_log(channel)
        if not stream:
            return
        conn = await app.runner.consoles.connect(container_id)
        if conn is None:
            return
        try:
            detached = await copy_stdio(channel, conn, how)
        finally:
            await conn.aclose()
        if detached:
            await trio.to_thread.run_sync(app.engine.detach, container_id, request.actor)

    async def from_log(channel: RawChannel) -> None:
        if not (stdout or stderr):
            return
        if not stream:
            if with_logs:
                await replay_log(channel)
            return
        done = False

        async def watch_state() -> None:
            nonlocal done
            while True:
                container = await trio.to_thread.run_sync(app.engine.find_aggregate, container_id)
                if container is None or (
                    container.state in ENDED
                    and (first.state not in ENDED or container.version > first.version)
                ):
                    done = True
                    return
                await trio.sleep(POLL_S)

        from_start = with_logs or first.state is ContainerState.CREATED
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_state)
            async for batch in log_batches(
                path,
                Selection(stdout, stderr),
                tail=None if from_start else 0,
                until_exit=lambda: done,
            ):
                await channel.send(_frames(batch) if how.frames else _raw(batch))
            nursery.cancel_scope.cancel()

    # With no log kept (the `none` driver), the output is only to be had from the monitor.
    kept = log_policy(HostConfig.from_docker(first.host_config).log_config).kept
    return to_stdio if (how.stdin or tty or not kept) else from_log


async def attach(app: App, request: Request) -> HijackReply:
    produce = await _attach_producer(
        app,
        request,
        stdin=request.flag("stdin"),
        stdout=request.flag("stdout"),
        stderr=request.flag("stderr"),
    )
    return HijackReply(produce)


async def attach_ws(app: App, request: Request) -> HijackReply | Reply:
    """dockerd's websocket attach: every stream, binary messages (API 1.28+)."""
    websocket_key(request)  # refused before the attach is recorded
    produce = await _attach_producer(
        app, request, stdin=True, stdout=True, stderr=True, multiplexed=False
    )
    return websocket_reply(request, produce)


async def resize(app: App, request: Request) -> Reply:
    # As dockerd: the size is read before the container is looked up.
    height, width = strconv_atoi(request.text("h")), strconv_atoi(request.text("w"))
    container_id = await _resolve(app, request.params["id"])
    await app.runner.consoles.resize(container_id, height, width)
    await trio.to_thread.run_sync(app.engine.resize, container_id, height, width, request.actor)
    return no_content(200)


def register(router: Router) -> None:
    router.add("POST", f"{ID}/attach", attach)
    router.add("GET", f"{ID}/attach/ws", attach_ws)
    router.add("POST", f"{ID}/resize", resize)
