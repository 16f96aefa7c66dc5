"""What the dashboard serves: the page, `/metrics` and the JSON the page reads.

Everything comes from the projections and the log, never from runc: the container view
for the list, a container's stored events for its history, `fold` over those events for
the document at a version, and the log itself (followed from a position, as Server-Sent
Events whose ids are log positions) for the timeline, so a reconnecting browser resumes
exactly where it stopped.

The page is reachable by any local user (a TCP port, unlike the API's 0660 socket), so
it shows only what `disclosure` allows: the lifecycle, never a container's configuration
or a caller's command line.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from importlib import resources
from typing import TYPE_CHECKING, Any

import trio

from berth.adapters.lazy_modules import lazy_module
from berth.domain.container import ContainerState, is_container_id

from ..http.errors import HttpError
from ..http.messages import Reply as Response
from ..http.messages import Request
from ..http.messages import Write as Send
from ..views import container_list
from ..views.moments import log_position
from ..views.trail import container_document_at
from .disclosure import (
    public_actor,
    public_details,
    public_document,
    public_listing,
)
from .server import EventStream

if TYPE_CHECKING:
    from prometheus_client import exposition

    from ..service.engine import Engine
    from ..store.events import LoggedEvent
    from .metrics import Metrics
else:
    exposition = lazy_module("prometheus_client.exposition")

EVENTS_BATCH = 500
FOLLOW_INTERVAL_S = 0.1
HEARTBEAT_S = 15.0
RECONNECT_MS = 1000
MAX_DETAIL_CHARS = 200
_CONTAINER_PATH = re.compile(r"^/api/containers/(?P<id>[^/]+)/(?P<what>history|at)$")


def load_page() -> bytes:
    return resources.files(__package__).joinpath("index.html").read_bytes()


@dataclass
class Dashboard:
    """The handler berthd's dashboard server calls for each request."""

    engine: Engine
    metrics: Metrics
    page: bytes = field(default_factory=load_page)

    async def __call__(self, request: Request) -> Response | EventStream:
        path = request.path
        if path in ("/", "/index.html"):
            return Response(200, self.page, "text/html; charset=utf-8", [_PAGE_POLICY])
        if path == "/metrics":
            body = await trio.to_thread.run_sync(self.metrics.render)
            return Response(200, body, exposition.CONTENT_TYPE_PLAIN_0_0_4)
        if path == "/api/containers":
            host = request.query.get("host") or None
            return _json(await trio.to_thread.run_sync(self.containers, host))
        if path == "/api/fleet":
            return _json(await trio.to_thread.run_sync(self.fleet))
        if path == "/api/events":
            return EventStream(functools.partial(self.stream_timeline, _since(request)))
        found = _CONTAINER_PATH.match(path)
        if found is None:
            raise HttpError(404, f"no such page: {path}")
        container_id = found["id"]
        if not is_container_id(container_id):
            raise HttpError(400, f"not a full container id: {container_id!r}")
        if found["what"] == "history":
            return _json(await trio.to_thread.run_sync(self.history, container_id))
        version = _version(request)
        return _json(await trio.to_thread.run_sync(self.document_at, container_id, version))

    # Reading the projections and the log (blocking: called in threads) -------------------

    def containers(self, host: str | None = None) -> dict[str, Any]:
        """Every container in the view (or in another fleet host's, from the fleet view),
        with counts by state and the log head before reading."""
        head = self.engine.store.max_position()
        if host and self.engine.host_id and host != self.engine.host_id:
            rows = [row for _, row in self.engine.views.fleet_container_rows(host)]
        else:
            rows = self.engine.views.container_rows()
        now = self.engine.now()
        counts = dict.fromkeys((s.value for s in ContainerState if s.value != "removed"), 0)
        listed = []
        for row in rows:
            counts[row["state"]] = counts.get(row["state"], 0) + 1
            entry = container_list.list_entry(row, now)
            listed.append(public_listing(row, entry))
        return {"position": head, "counts": counts, "containers": listed}

    def fleet(self) -> dict[str, Any]:
        """The fleet overview: this host, and every host's containers by state (none on a
        lone host)."""
        hosts: dict[str, dict[str, int]] = {}
        if self.engine.host_id:
            for (host, state), count in self.engine.views.fleet_containers_by_state().items():
                hosts.setdefault(host, {})[state] = count
        return {"host": self.engine.host_id, "hosts": hosts}

    def history(self, container_id: str) -> dict[str, Any]:
        events = self.engine.history(container_id)
        if not events:
            raise HttpError(404, f"No such container: {container_id}")
        return {"id": container_id, "events": [event_view(event) for event in events]}

    def document_at(self, container_id: str, version: int) -> dict[str, Any]:
        if not self.engine.store.aggregate_log(container_id, until_version=1):
            raise HttpError(404, f"No such container: {container_id}")
        document = container_document_at(self.engine.store, container_id, version=version)
        return {
            "id": container_id,
            "version": version,
            "document": public_document(document) if document is not None else None,
        }

    # The live timeline ---------------------------------------------------------------------

    async def stream_timeline(self, since: int | None, send: Send) -> None:
        """Send every event after `since` (default: the head), then follow the log."""
        store = self.engine.store
        position = since if since is not None else await trio.to_thread.run_sync(store.max_position)
        await send(f"retry: {RECONNECT_MS}\n\n".encode())
        quiet_since = trio.current_time()
        while True:
            batch = await trio.to_thread.run_sync(
                functools.partial(store.read_log, after=position, limit=EVENTS_BATCH)
            )
            if batch:
                frames = []
                for event in batch:
                    data = json.dumps(event_view(event), default=_plain)
                    frames.append(f"id: {event.position}\nevent: log\ndata: {data}\n\n")
                    position = event.position
                await send("".join(frames).encode())
                quiet_since = trio.current_time()
                continue
            if trio.current_time() - quiet_since > HEARTBEAT_S:
                await send(b": keep-alive\n\n")  # finds browsers that have gone away
                quiet_since = trio.current_time()
            await trio.sleep(FOLLOW_INTERVAL_S)


_PAGE_POLICY = (
    "Content-Security-Policy",
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
)


def event_view(event: LoggedEvent) -> dict[str, Any]:
    """One logged event as the page shows it: what, when, who, and its small fields."""
    details = {}
    for key, value in public_details(event.data).items():
        if isinstance(value, dict | list | tuple):
            continue
        plain = _plain(value) if not isinstance(value, str | int | float | bool) else value
        if isinstance(plain, str) and len(plain) > MAX_DETAIL_CHARS:
            plain = plain[:MAX_DETAIL_CHARS] + "…"
        details[key] = plain
    return {
        "position": event.position,
        "aggregate": event.aggregate,
        "event": event.name,
        "id": event.originator_id,
        "version": event.version,
        "time": event.timestamp.isoformat(),
        "actor": public_actor(event.data.get("actor")),
        "details": details,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    if value is None:
        return None
    return str(value)


def _json(value: Any) -> Response:
    return Response(200, json.dumps(value, default=_plain).encode() + b"\n")


def _since(request: Request) -> int | None:
    """Where a timeline resumes: the browser's Last-Event-ID, else `?since=POSITION`."""
    text = request.headers.get("last-event-id") or request.query.get("since") or ""
    if not text:
        return None
    position = log_position(text)
    if position is None:
        raise HttpError(400, f"invalid log position: {text!r}")
    return position


def _version(request: Request) -> int:
    text = request.query.get("version", "")
    version = log_position(text)
    if version is None or version < 1:
        raise HttpError(400, f"version must be a positive integer, got {text!r}")
    return version
