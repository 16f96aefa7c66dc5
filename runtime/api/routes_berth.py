"""berth's own routes, under `/berth/`: what the log knows and the Docker API has no
endpoint for.

- `GET /berth/containers/{ref}/history`: every event of a container, removed ones too
  (by full id or a name it had), with its actor and what changed;
- `GET /berth/containers/{ref}/json?at=TIME|#POSITION`: its inspect document then;
- `GET /berth/audit?since=&until=&filters={"user","action","container"}&format=json|commands`:
  the audit trail (JSON lines), or the users' requests as Docker API calls;
- `GET /berth/verify?jobs=&from=&host=`: the hash chain checked (ok, or the first bad
  position); in a fleet's log, `host`'s chain or every host's (`all`, the default);
- `GET /berth/fleet/containers?host=`: every fleet host's containers (`ps --fleet`), as
  `/containers/json` lists them, each with its "Host";
- `POST /berth/projections/rebuild?name=all|views|audit`: JSON lines of progress
  (`{"progress": {"current", "total"}}`), then `{"position": N}`.

`berth history|audit|inspect --at|audit verify|projections rebuild` are their client, so
they answer from the log of the engine they talk to: berthd's with -H (ADR/0024).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import trio

from berth.domain.errors import BerthError, InvalidParameter

from ..store.verify import Report, verify
from ..store.verify_fleet import verify_fleet
from ..views import audit_search, rebuild, trail
from ..views.filters import parse_query_filters
from .server import App, Reply, Request, Router, StreamReply, Write, json_line, json_reply

PREFIX = "/berth"
ID = rf"{PREFIX}/containers/(?P<id>[^/]+)"
LINES_PER_WRITE = 1000
PROGRESS_EVERY_S = 0.1


async def history(app: App, request: Request) -> Reply:
    ref = request.params["id"]
    return json_reply(await trio.to_thread.run_sync(trail.container_history, app.engine, ref))


async def fleet_containers(app: App, request: Request) -> Reply:
    host = request.text("host") or None
    return Reply(200, await trio.to_thread.run_sync(app.engine.fleet_listing, host))


async def document_at(app: App, request: Request) -> Reply:
    at = request.text("at")
    if not at:
        raise InvalidParameter("at is required: a time (RFC 3339, unix, 10m) or #POSITION")
    find = functools.partial(
        trail.document_at_moment, app.engine, request.params["id"], at, app.engine.now()
    )
    return json_reply(await trio.to_thread.run_sync(find))


async def audit(app: App, request: Request) -> StreamReply:
    filters = parse_query_filters(request.text("filters"), audit_search.FILTERS)
    search = functools.partial(
        audit_search.search,
        app.engine,
        app.root,
        app.engine.now(),
        request.text("format") or "json",
        request.text("since") or None,
        request.text("until") or None,
        filters,
    )
    # Searched before the answer starts: a bad filter is a 400, not a broken stream.
    lines = await trio.to_thread.run_sync(search)

    async def produce(write: Write) -> None:
        for start in range(0, len(lines), LINES_PER_WRITE):
            batch = lines[start : start + LINES_PER_WRITE]
            await write("".join(f"{line}\n" for line in batch).encode())

    return StreamReply(produce)


def report_document(report: Report) -> dict[str, Any]:
    problem = report.problem
    return {
        "intact": problem is None,
        "problem": None
        if problem is None
        else {"position": problem.position, "kind": problem.kind, "detail": problem.detail},
        "events": report.events,
        "first_position": report.first_position,
        "head_position": report.head_position,
        "head_hash": report.head_hash,
        "checkpoints": report.checkpoints,
        "segments": report.segments,
        "seconds": report.seconds,
        "notes": list(report.notes),
    }


async def verify_chain(app: App, request: Request) -> Reply:
    jobs = request.integer("jobs")
    start = request.integer("from") or 0
    if (jobs is not None and jobs < 1) or start < 0:
        raise InvalidParameter("jobs must be at least 1 and from at least 0")
    store = app.engine.store
    host = request.text("host") or None
    check: Callable[[], Report]
    if store.url is not None:  # a fleet's log: one host's chain, or every host's
        check = functools.partial(verify_fleet, store.datastore, None if host == "all" else host)
    else:
        check = functools.partial(verify, store.db_path, jobs=jobs, start_after=max(start - 1, 0))
    return json_reply(report_document(await trio.to_thread.run_sync(check)))


async def rebuild_projections(app: App, request: Request) -> StreamReply:
    name = rebuild.check_name(request.text("name") or "all")
    total = app.engine.store.max_position()

    async def produce(write: Write) -> None:
        reached = 0
        wrote = False

        def on_read(position: int) -> None:
            nonlocal reached
            reached = position

        async def report_progress() -> None:
            nonlocal wrote
            shown = 0
            while True:
                await trio.sleep(PROGRESS_EVERY_S)
                if reached != shown:
                    shown = reached
                    await write(json_line({"progress": {"current": shown, "total": total}}))
                    wrote = True

        work = functools.partial(rebuild.rebuild, app.root, app.engine.store, name, on_read)
        try:
            position = await _while(work, report_progress)
        except BerthError as error:
            if not wrote:
                raise  # nothing sent yet: a proper error answer
            await write(json_line({"error": error.message}))
            return
        await write(json_line({"position": position}))

    return StreamReply(produce, lazy=True)


async def _while(work: Callable[[], int], beside: Callable[[], Any]) -> int:
    """`work` in a thread, with `beside` running until it is done; its result or error."""
    done: list[int] = []
    failed: list[BerthError] = []
    async with trio.open_nursery() as nursery:

        async def run() -> None:
            try:
                done.append(await trio.to_thread.run_sync(work))
            except BerthError as error:
                failed.append(error)
            finally:
                nursery.cancel_scope.cancel()

        nursery.start_soon(run)
        await beside()
    if failed:
        raise failed[0]
    return done[0]


def register(router: Router) -> None:
    router.add("GET", f"{ID}/history", history)
    router.add("GET", f"{ID}/json", document_at)
    router.add("GET", f"{PREFIX}/audit", audit)
    router.add("GET", f"{PREFIX}/fleet/containers", fleet_containers)
    router.add("GET", f"{PREFIX}/verify", verify_chain)
    router.add("POST", f"{PREFIX}/projections/rebuild", rebuild_projections)
