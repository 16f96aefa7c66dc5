"""`GET /events`: Docker's event stream, served from the durable log (see events.py)."""

from __future__ import annotations

import json

from berth.domain.errors import InvalidParameter

from .events import EventFilters, parse_bound, stream_events
from .server import App, Request, Router, StreamReply, Write, json_line


async def events(app: App, request: Request) -> StreamReply:
    since = request.query.get("since") or None
    until = request.query.get("until") or None
    for bound in (since, until):
        try:
            parse_bound(bound)
        except ValueError:
            raise InvalidParameter(f"invalid timestamp or log position: {bound!r}") from None
    raw_filters = request.query.get("filters") or "{}"
    try:
        decoded = json.loads(raw_filters)
    except ValueError:
        raise InvalidParameter(f"invalid filters: {raw_filters!r}") from None
    if not isinstance(decoded, dict):
        raise InvalidParameter(f"invalid filters: {raw_filters!r}")
    # Docker sends {"key": {"value": true}} (newer) or {"key": ["value"]} (older).
    filters = {
        str(key): [str(v) for v in (values.keys() if isinstance(values, dict) else values)]
        for key, values in decoded.items()
    }

    async def produce(write: Write) -> None:
        async for message in stream_events(app.engine, since, until, EventFilters(filters)):
            await write(json_line(message))

    return StreamReply(produce)


def register(router: Router) -> None:
    router.add("GET", "/events", events)
