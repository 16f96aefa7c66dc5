"""`docker exec`'s routes: `/containers/{id}/exec` and `/exec/{id}/start|resize|json`.

An attached start hijacks the connection as dockerd does: the exec's output raw with a
tty, in stdcopy frames without; the client's bytes are the exec's stdin when it asked
for stdin, and its half-close closes that stdin. The stream ends once the exit is
recorded, so the client's inspect that follows sees the exit code. A process that cannot
start is said in the stream (dockerd writes its error there, exit code 126).
"""

from __future__ import annotations

import socket

import trio

from berth.adapters.runc import StartFailure
from berth.adapters.runc.exec import PACKET_SIZE, STDERR_PIPE, STDOUT_PIPE
from berth.domain.errors import InvalidParameter
from berth.domain.exec import Exec

from ..service.execs import StartedExec
from .params import go_int
from .server import App, HijackReply, RawChannel, Reply, Request, Router, json_reply
from .streams import STDERR, STDOUT, frame

#: What one packet to the attach socket may carry (conmon reads at most this much).
STDIN_PACKET = 8192


async def create(app: App, request: Request) -> Reply:
    body = request.json()
    if body is None:
        raise InvalidParameter("got EOF while reading request body")
    exec_id = await app.runner.execs.create(request.params["id"], body, request.actor)
    return json_reply({"Id": exec_id}, status=201)


async def start(app: App, request: Request) -> Reply | HijackReply:
    body = request.json(default={})
    if not isinstance(body, dict):
        raise InvalidParameter("json: cannot unmarshal into Go value of type types.ExecStartCheck")
    detach = bool(body.get("Detach"))
    try:
        started = await app.runner.execs.start(request.params["id"], detach, request.actor)
    except StartFailure as failure:
        if detach:
            raise
        text = (failure.message + "\r\n").encode()
        tty = bool(body.get("Tty"))

        async def say(channel: RawChannel) -> None:
            await channel.send(text if tty else frame(STDOUT, text))

        return HijackReply(say)
    if started is None:
        return Reply(200, b"", content_type=None)
    return HijackReply(lambda channel: _pump(channel, started))


async def _pump(channel: RawChannel, started: StartedExec) -> None:
    exec_: Exec = started.exec
    sock = started.process.attach
    assert sock is not None
    with sock:
        async with trio.open_nursery() as nursery:
            if exec_.open_stdin:
                nursery.start_soon(_stdin, channel, sock)
            while packet := await sock.recv(PACKET_SIZE):
                data = packet[1:]
                if exec_.tty:
                    await channel.send(data)
                elif packet[0] == STDOUT_PIPE and exec_.open_stdout:
                    await channel.send(frame(STDOUT, data))
                elif packet[0] == STDERR_PIPE and exec_.open_stderr:
                    await channel.send(frame(STDERR, data))
            nursery.cancel_scope.cancel()
    await started.wait_recorded()


async def _stdin(channel: RawChannel, sock: trio.socket.SocketType) -> None:
    while data := await channel.receive():
        for offset in range(0, len(data), STDIN_PACKET):
            await sock.send(data[offset : offset + STDIN_PACKET])
    sock.shutdown(socket.SHUT_WR)


async def resize(app: App, request: Request) -> Reply:
    height = go_int("h", request.text("h"))
    width = go_int("w", request.text("w"))
    await app.runner.execs.resize(request.params["id"], height, width)
    return Reply(200, b"", content_type=None)


async def inspect(app: App, request: Request) -> Reply:
    return json_reply(await app.runner.execs.inspect(request.params["id"]))


def register(router: Router) -> None:
    router.add("POST", r"/containers/(?P<id>[^/]+)/exec", create)
    router.add("POST", r"/exec/(?P<id>[^/]+)/start", start)
    router.add("POST", r"/exec/(?P<id>[^/]+)/resize", resize)
    router.add("GET", r"/exec/(?P<id>[^/]+)/json", inspect)
