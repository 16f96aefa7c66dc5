"""`GET /events`: Docker's event stream, served from the durable log (see
views/docker_events.py).

`since` is a unix time, as the docker CLI sends it, or a log position written `#N`, so a
consumer resumes exactly where it stopped (each event carries its position as
`berth.position`).
"""

from __future__ import annotations

from ..views.docker_events import EVENT_FILTERS, Bound, EventFilters, stream_events
from ..views.filters import parse_query_filters
from ..views.moments import log_position
from .params import invalid, unix_time
from .server import App, Request, Router, StreamReply, Write, json_line


def parse_bound(name: str, text: str | None) -> Bound:
    """A `since`/`until` value: `#N` (a log position) or unix seconds (fractions allowed);
    InvalidParameter for anything else."""
    if not text:
        return Bound()
    if text.startswith("#"):
        position = log_position(text[1:])
        if position is None:
            raise invalid(name, text)
        return Bound(position=position)
    return Bound(time=unix_time(name, text))


async def events(app: App, request: Request) -> StreamReply:
    since = request.query.get("since") or None
    until = request.query.get("until") or None
    # Refused before the stream's headers go out.
    since_bound, until_bound = parse_bound("since", since), parse_bound("until", until)
    filters = parse_query_filters(request.query.get("filters") or "", EVENT_FILTERS)
    fleet = request.flag("fleet")  # berth's: every host of a fleet's store

    async def produce(write: Write) -> None:
        async for message in stream_events(
            app.engine, since_bound, until_bound, EventFilters(filters), fleet=fleet
        ):
            await write(json_line(message))

    return StreamReply(produce)


def register(router: Router) -> None:
    router.add("GET", "/events", events)
