"""`/containers/{id}/top`, `/stats` and `/update`: what a container does, and its
resources changed while it runs."""

from __future__ import annotations

import contextlib

from .server import App, Reply, Request, Router, StreamReply, Write, json_line, json_reply

ID = r"/containers/(?P<id>[^/]+)"


async def top(app: App, request: Request) -> Reply:
    ps_args = request.query.get("ps_args")
    return json_reply(await app.runner.observer.top(request.params["id"], ps_args, request.actor))


async def stats(app: App, request: Request) -> StreamReply:
    stream = request.flag("stream", default=True)
    one_shot = request.flag("one-shot")
    documents = app.runner.observer.stats(request.params["id"], stream=stream, one_shot=one_shot)
    first = await anext(documents)  # an unknown container is a 404, not a stream

    async def produce(write: Write) -> None:
        async with contextlib.aclosing(documents):
            await write(json_line(first))
            async for document in documents:
                await write(json_line(document))

    return StreamReply(produce)


async def update(app: App, request: Request) -> Reply:
    body = request.json(default={})
    warnings = await app.runner.update(request.params["id"], body, request.actor)
    return json_reply({"Warnings": warnings})


def register(router: Router) -> None:
    router.add("GET", f"{ID}/top", top)
    router.add("GET", f"{ID}/stats", stats)
    router.add("POST", f"{ID}/update", update)
