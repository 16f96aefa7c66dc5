"""`docker exec`'s routes: `/containers/{id}/exec` and `/exec/{id}/start|resize|json`.

An attached start hijacks the connection as dockerd does: the exec's output raw with a
tty, in stdcopy frames without; the client's bytes are the exec's stdin when it asked
for stdin, and its half-close closes that stdin. The stream ends once the exit is
recorded, so the client's inspect that follows sees the exit code. A process that cannot
start is said in the stream (dockerd writes its error there, exit code 126).
"""

from __future__ import annotations

from berth.adapters.runc import StartFailure
from berth.adapters.runc.attach import StdioStream
from berth.domain.errors import InvalidParameter
from berth.domain.exec import Exec, exec_detach_keys

from ..service.execs import StartedExec
from .params import go_int
from .server import App, HijackReply, RawChannel, Reply, Request, Router, json_reply
from .stdio_copy import StdioCopy, copy_stdio
from .streams import STDOUT, frame


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
    detach, tty = bool(body.get("Detach")), bool(body.get("Tty"))
    execs = app.runner.execs
    exec_ = await execs.request_start(request.params["id"], detach, request.actor)
    if detach:
        await execs.start(exec_, detach, request.actor)
        return Reply(200, b"", content_type=None)

    async def produce(channel: RawChannel) -> None:
        # As dockerd: the connection is hijacked first, then the process started, so its
        # first output never comes with the answer's head.
        try:
            started = await execs.start(exec_, detach, request.actor)
        except StartFailure as failure:
            text = (failure.message + "\r\n").encode()
            await channel.send(text if tty else frame(STDOUT, text))
            return
        assert started is not None
        await _pump(channel, app, request, started, tty)

    return HijackReply(produce)


async def _pump(
    channel: RawChannel, app: App, request: Request, started: StartedExec, tty: bool
) -> None:
    """dockerd frames the output by the start's Tty (docker-py may ask a tty exec for
    frames) and reads the detach keys in the input of an exec with a tty."""
    exec_: Exec = started.exec
    stdio = started.process.attach
    assert stdio is not None
    how = StdioCopy(
        tty=exec_.tty,
        frames=not tty,
        stdin=exec_.open_stdin,
        stdout=exec_.open_stdout,
        stderr=exec_.open_stderr,
        close_stdin_on_eof=True,
        detach_keys=exec_detach_keys(exec_.detach_keys),
    )
    output = _NotingEnd(stdio)
    try:
        detached = await copy_stdio(channel, output, how)
    finally:
        await stdio.aclose()
    if detached:
        await app.runner.execs.detached(exec_.id, request.actor)
    elif output.ended:  # the process is done: its exit is being recorded
        await started.wait_recorded()


class _NotingEnd:
    """The exec's stdio, noting when its output has ended (a tty client that ends its
    input ends the stream while the process runs on, as dockerd)."""

    def __init__(self, stdio: StdioStream) -> None:
        self.stdio = stdio
        self.ended = False

    async def receive(self) -> list[tuple[int, bytes]] | None:
        pieces = await self.stdio.receive()
        self.ended = pieces is None
        return pieces

    async def send(self, data: bytes) -> None:
        await self.stdio.send(data)

    async def close_stdin(self) -> None:
        await self.stdio.close_stdin()

    async def aclose(self) -> None:
        await self.stdio.aclose()


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
