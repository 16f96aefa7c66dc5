"""`GET /events`: Docker's event stream, served from the durable log (see events.py)."""

from __future__ import annotations

from ..views.filters import parse_query_filters
from .events import EVENT_FILTERS, EventFilters, parse_bound, stream_events
from .server import App, Request, Router, StreamReply, Write, json_line


async def events(app: App, request: Request) -> StreamReply:
    since = request.query.get("since") or None
    until = request.query.get("until") or None
    parse_bound("since", since)  # refused before the stream's headers go out
    parse_bound("until", until)
    filters = parse_query_filters(request.query.get("filters") or "", EVENT_FILTERS)

    async def produce(write: Write) -> None:
        async for message in stream_events(app.engine, since, until, EventFilters(filters)):
            await write(json_line(message))

    return StreamReply(produce)


def register(router: Router) -> None:
    router.add("GET", "/events", events)
