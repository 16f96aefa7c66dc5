"""Hostile requests for every route berthd registers, and the invariants they must keep.

Shared by tests/api/test_fuzz.py (a few hundred requests) and bench/fuzz_api.py (10,000).
For each route of `build_router()` (so a new route cannot be missed) hypothesis draws a
request (fuzz_draws.py) after the daemon's fixtures are put back in their states (a
created, a running and an exited container, the busybox image). Each outcome says
whether it broke an invariant:

- an answer (the status line) within the timeout, and no 5xx;
- a 4xx appended no event caused by this client (read from events.db, read-only).

The test pings `/_ping` at the end; the bench pings throughout, from another process.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from berth.runtime.api import build_router, routes_swarm
from berth.runtime.api.server import Route
from berth.runtime.store.transcoder import MsgpackTranscoder

from .fuzz_draws import Drawn, draw_request

ROUTES: list[Route] = build_router().routes
TIMEOUT_S = 30.0
STREAM_READ_S = 0.3  # how long a streamed answer (logs -f, wait, events) is read
MAX_EXTRA = 40  # fuzz-made containers kept before they are removed between examples
CREATED, RUNNING, EXITED = "fz-created", "fz-running", "fz-exited"
# Exits promptly on SIGTERM whatever `t` a stop is given.
RUNNING_CMD = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]


# Talking to berthd ----------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float


class NoAnswer(Exception):
    """berthd sent no status line within the timeout."""


def request(
    sock_path: Path,
    method: str,
    target: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    timeout: float = TIMEOUT_S,
) -> Answer:
    """One request on its own connection; a streamed body is read for STREAM_READ_S only."""
    started = time.perf_counter()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    conn = h11.Connection(h11.CLIENT)
    try:
        sock.connect(str(sock_path))
        all_headers = [("Host", "berth"), ("Content-Length", str(len(body))), *(headers or [])]
        if "/attach" in target:  # as docker does: so that h11 takes the 101 for what it is
            all_headers += [("Connection", "Upgrade"), ("Upgrade", "tcp")]
        data = conn.send(h11.Request(method=method, target=target, headers=all_headers))
        data += conn.send(h11.Data(data=body)) if body else b""
        data += conn.send(h11.EndOfMessage())
        sock.sendall(data)
        status, chunks, streaming_since = 0, [], 0.0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if streaming_since and time.perf_counter() - streaming_since > STREAM_READ_S:
                    break
                if streaming_since:
                    sock.settimeout(STREAM_READ_S)
                try:
                    more = sock.recv(65536)
                except TimeoutError:
                    if streaming_since:
                        break
                    raise NoAnswer(f"{method} {target[:200]}") from None
                conn.receive_data(more)
                continue
            if isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    status = 101
                    break
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                if any(k.lower() == b"transfer-encoding" for k, _ in event.headers):
                    streaming_since = time.perf_counter()
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        return Answer(status, b"".join(chunks), time.perf_counter() - started)
    except h11.RemoteProtocolError:
        return Answer(status or 0, b"", time.perf_counter() - started)
    except (ConnectionError, BrokenPipeError) as error:
        if status:
            return Answer(status, b"", time.perf_counter() - started)
        raise NoAnswer(f"{method} {target[:200]}: {error}") from None
    finally:
        sock.close()


def call(sock_path: Path, method: str, target: str, body: Any = None) -> Answer:
    raw = b"" if body is None else json.dumps(body).encode()
    return request(sock_path, method, target, raw, [("Content-Type", "application/json")])


# The log ------------------------------------------------------------------------------------


def log_head(root: Path) -> int:
    db = sqlite3.connect(f"file:{root / 'events.db'}?mode=ro", uri=True, timeout=30)
    try:
        return int(db.execute("SELECT coalesce(max(rowid), 0) FROM stored_events").fetchone()[0])
    finally:
        db.close()


def events_by(root: Path, after: int, pid: int) -> list[str]:
    """Topics of the events after `after` that a request of process `pid` caused."""
    db = sqlite3.connect(f"file:{root / 'events.db'}?mode=ro", uri=True, timeout=30)
    decode = MsgpackTranscoder().decode
    try:
        rows = db.execute(
            "SELECT topic, state FROM stored_events WHERE rowid > ? ORDER BY rowid", (after,)
        ).fetchall()
    finally:
        db.close()
    found = []
    for topic, state in rows:
        actor = decode(state).get("actor")
        if actor is not None and actor.kind.value == "api" and actor.pid == pid:
            found.append(str(topic))
    return found


def refusal_events(topics: list[str]) -> list[str]:
    """The events a refused request appended. A start that runc could not carry out is
    not a refusal: it was attempted, and its failure (exit code 126/127 and the reason,
    as `docker inspect` shows) is recorded with the 400 that dockerd also answers."""
    if any(topic.endswith(".StartFailed") for topic in topics):
        return []
    return topics


# The daemon's state before each request ---------------------------------------------------


@dataclass
class Stage:
    """berthd's socket and root, and how to bring its fixtures back."""

    socket: Path
    root: Path
    tarball: Path
    ids: dict[str, str] = field(default_factory=dict)
    image_id: str = ""
    others: list[str] = field(default_factory=list)  # containers the fuzzing made

    def _containers(self) -> list[dict[str, Any]]:
        listed = call(self.socket, "GET", "/containers/json?all=1")
        assert listed.status == 200, listed
        result: list[dict[str, Any]] = json.loads(listed.body)
        return result

    def restore(self) -> None:
        """The image and the three containers in their states; extra containers pruned."""
        images = json.loads(call(self.socket, "GET", "/images/json").body)
        if not any("busybox:latest" in (i.get("RepoTags") or []) for i in images):
            target = "/images/create?fromSrc=-&repo=busybox&tag=latest"
            done = request(self.socket, "POST", target, self.tarball.read_bytes())
            assert done.status == 200, done
        self.image_id = json.loads(call(self.socket, "GET", "/images/busybox/json").body)["Id"]
        entries = self._containers()
        by_name = {e["Names"][0].lstrip("/"): e for e in entries if e["Names"]}
        wanted = {CREATED: "created", RUNNING: "running", EXITED: "exited"}
        for name, state in wanted.items():
            entry = by_name.get(name)
            if entry is not None and entry["State"] == state:
                self.ids[name] = entry["Id"]
                continue
            if entry is not None:
                call(self.socket, "DELETE", f"/containers/{entry['Id']}?force=1")
            self.ids[name] = self._make(name, state)
        extra = [e for e in entries if e["Id"] not in self.ids.values()]
        if len(extra) > MAX_EXTRA:
            for entry in extra:
                call(self.socket, "DELETE", f"/containers/{entry['Id']}?force=1")
            extra = []
        self.others = [e["Id"] for e in extra]

    def _make(self, name: str, state: str) -> str:
        cmd = RUNNING_CMD if state == "running" else ["true"]
        made = call(self.socket, "POST", f"/containers/create?name={name}", body_of(cmd))
        if made.status == 409:  # a fuzzed rename left the name on another container
            call(self.socket, "DELETE", f"/containers/{name}?force=1")
            made = call(self.socket, "POST", f"/containers/create?name={name}", body_of(cmd))
        assert made.status == 201, made
        container_id: str = json.loads(made.body)["Id"]
        if state != "created":
            assert call(self.socket, "POST", f"/containers/{container_id}/start").status == 204
        if state == "exited":
            assert call(self.socket, "POST", f"/containers/{container_id}/wait").status == 200
        return container_id

    def containers(self) -> list[str]:
        """Names, ids and short ids of the containers there are."""
        ids = list(self.ids.values())
        return [*self.ids, *ids, *(i[:12] for i in ids), *self.others]

    def images(self) -> list[str]:
        return ["busybox", "busybox:latest", self.image_id, self.image_id[7:19]]


def body_of(cmd: list[str]) -> dict[str, Any]:
    return {"Image": "busybox", "Cmd": cmd}


# Running them -------------------------------------------------------------------------------


# A node in no swarm answers its swarm routes 503, as dockerd (ADR/0046).
NO_SWARM = (routes_swarm.not_a_manager, routes_swarm.not_in_a_swarm)
# Routes that speak to a registry (pull, push, login, sign, distribution inspect): its
# absence is their 503.
UPSTREAM_ROUTES = (
    "/images/create",
    "/images/{name}/push",
    "/auth",
    "/berth/images/{name}/sign",
    "/distribution/{name}/json",
)


@dataclass
class Outcome:
    route: Route
    drawn: Drawn
    status: int
    seconds: float
    refused_events: list[str]
    message: str

    @property
    def violation(self) -> bool:
        """No answer, a 5xx, or a refused request that recorded something. A registry
        that cannot be reached is a 503 of the routes that speak to one (the fuzzing
        pulls from a closed port): an answer about the world, not about the request."""
        upstream = self.status == 503 and (
            self.route.template in UPSTREAM_ROUTES or self.route.handler in NO_SWARM
        )
        return (
            self.status <= 0 or (self.status >= 500 and not upstream) or bool(self.refused_events)
        )


def run_route(
    stage: Stage,
    route: Route,
    examples: int,
    on_outcome: Callable[[Outcome], None],
    *,
    restore_every: int = 1,
) -> None:
    """Send `examples` drawn requests for `route`, telling `on_outcome` about each."""
    count = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data: st.DataObject) -> None:
        nonlocal count
        if count % restore_every == 0:
            stage.restore()
        count += 1
        drawn = draw_request(data.draw, route, stage.containers(), stage.images())
        before = log_head(stage.root)
        try:
            answer = request(stage.socket, drawn.method, drawn.target, drawn.body)
        except NoAnswer as error:
            on_outcome(Outcome(route, drawn, -1, TIMEOUT_S, [], str(error)))
            return
        refused: list[str] = []
        if 400 <= answer.status < 500:
            refused = refusal_events(events_by(stage.root, before, os.getpid()))
        message = answer.body[:300].decode(errors="replace") if answer.status >= 400 else ""
        on_outcome(Outcome(route, drawn, answer.status, answer.seconds, refused, message))

    one()
