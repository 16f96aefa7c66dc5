"""Hostile requests for every route berthd registers, and the invariants they must keep.

Shared by tests/api/test_fuzz.py (a few hundred requests) and bench/fuzz_api.py (10,000).
For each route of `build_router()` (so a new route cannot be missed) hypothesis draws the
method, the path parameters (the prepared containers and image, garbage, traversal, NUL,
unicode, very long), the query string (known parameters with absurd values, unknown
ones) and a body (create-shaped JSON with wrong types and huge numbers, any JSON, bytes).
After each request:

- no 5xx, and an answer (the status line) within the timeout;
- a 4xx appended no event caused by this client (read from events.db, read-only);
- `/_ping` still answers.

Nothing reaches beyond loopback: image references to pull name `127.0.0.1:9`, bind
sources lie under a directory that does not exist, commands are harmless applets.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sqlite3
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import h11
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from berth.runtime.api import build_router
from berth.runtime.api.server import Route
from berth.runtime.transcoder import MsgpackTranscoder

ROUTES: list[Route] = build_router().routes
TIMEOUT_S = 30.0
STREAM_READ_S = 0.3  # how long a streamed answer (logs -f, wait, events) is read
MAX_EXTRA = 40  # fuzz-made containers kept before they are removed between examples
CREATED, RUNNING, EXITED = "fz-created", "fz-running", "fz-exited"
# Exits promptly on SIGTERM whatever `t` a stop is given.
RUNNING_CMD = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
SAFE_CMDS = (["true"], ["false"], ["sleep", "1"], ["echo", "hi"], ["sh", "-c", "exit 3"])
NO_SUCH_DIR = "/nonexistent-berth-fuzz"
UNREACHABLE_REGISTRY = "127.0.0.1:9"


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


def body_of(cmd: list[str]) -> dict[str, Any]:
    return {"Image": "busybox", "Cmd": cmd}


# What hypothesis draws ----------------------------------------------------------------------

ABSURD = (
    "", "0", "1", "-1", "2", "true", "false", "yes", "none", "all", "1e30", "-1e30", "nan",
    "inf", "-inf", "1.5", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "99999999999999999999", "#0", "#1", "#-1", "#99999999999999999999",
    "../../../etc/passwd", "..%2f..%2f", "\x00", "a\x00b", "\n", "%", "%zz", "٣", "1_000",
    " 5", "x" * 5000, "2024-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "SIGKILL", "KILL",
    "9", "32", "FOO", "not-running", "next-exit", "removed", "{", "[]", "null",
    '{"name":["(a|a)*b"]}', '{"name":["("]}', '{"name":["a{1000}{1000}"]}', '{"label":[1]}',
    '{"status":{"running":true}}', '{"before":["fz-running"]}', '{"since":["nope"]}',
    '{"exited":["x"]}', '{"id":[""]}', '{"ancestor":["busybox"]}', '{"type":["container"]}',
    '{"event":["start"],"container":["fz-running"]}', '{"bogus":["x"]}', "[" * 5000,
    '{"a":' * 3000,
)  # fmt: skip
# Each route's query parameters, as the Engine API documents them; any other route gets
# the union, and every request may carry unknown keys too.
ROUTE_PARAMS: dict[str, tuple[str, ...]] = {
    "/containers/json": ("all", "limit", "size", "filters"),
    "/containers/create": ("name", "platform"),
    "/containers/prune": ("filters",),
    "/containers/{id}/json": ("size",),
    "/containers/{id}/start": ("detachKeys",),
    "/containers/{id}/stop": ("t", "signal"),
    "/containers/{id}/restart": ("t", "signal"),
    "/containers/{id}/kill": ("signal",),
    "/containers/{id}/rename": ("name",),
    "/containers/{id}/wait": ("condition",),
    "/containers/{id}/logs": (
        "follow", "stdout", "stderr", "since", "until", "timestamps", "tail",
    ),
    "/containers/{id}/attach": ("detachKeys", "logs", "stream", "stdin", "stdout", "stderr"),
    "/containers/{id}": ("v", "force", "link"),
    "/images/json": ("all", "filters", "digests"),
    "/images/create": ("fromImage", "fromSrc", "repo", "tag", "message", "platform"),
    "/images/load": ("quiet",),
    "/images/{name}/tag": ("repo", "tag"),
    "/images/{name}": ("force", "noprune"),
    "/networks": ("filters",),
    "/events": ("since", "until", "filters"),
}  # fmt: skip
QUERY_KEYS = tuple(sorted({key for keys in ROUTE_PARAMS.values() for key in keys}))
HOST_CONFIG_KEYS = (
    "Binds", "Dns", "DnsSearch", "DnsOptions", "ExtraHosts", "PortBindings", "RestartPolicy",
    "Memory", "MemorySwap", "CpuShares", "NanoCpus", "CpuQuota", "CpuPeriod", "CapAdd",
    "CapDrop", "NetworkMode", "Privileged", "ReadonlyRootfs", "AutoRemove", "Tmpfs", "Mounts",
    "Ulimits", "LogConfig", "PidsLimit", "ShmSize", "OomScoreAdj", "SecurityOpt", "IpcMode",
    "PidMode", "UTSMode", "CgroupnsMode", "Sysctls", "Devices", "GroupAdd", "Init",
    "PublishAllPorts", "Isolation", "Annotations", "BlkioWeight", "CpusetCpus",
)  # fmt: skip
CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "Env", "Labels", "WorkingDir", "Entrypoint",
    "ExposedPorts", "StopSignal", "StopTimeout", "Healthcheck", "Tty", "OpenStdin", "Volumes",
    "Shell", "NetworkDisabled", "MacAddress", "AttachStdin",
)  # fmt: skip

texts = st.text(max_size=40) | st.sampled_from(ABSURD)
huge_ints = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from(
    [0, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]
)
json_scalars = (
    st.none() | st.booleans() | huge_ints | st.floats(allow_nan=False, allow_infinity=False)
) | texts
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)


def _bind_sources(text: str) -> str:
    return f"{NO_SUCH_DIR}/{text}:/mnt"


host_config = st.dictionaries(
    st.sampled_from(HOST_CONFIG_KEYS), json_values, max_size=4
) | st.fixed_dictionaries(
    {},
    optional={
        "Binds": st.lists(texts.map(_bind_sources), max_size=2),
        "Dns": st.lists(texts, max_size=2),
        "DnsSearch": st.lists(texts, max_size=2),
        "ExtraHosts": st.lists(texts, max_size=2),
        "Memory": huge_ints,
        "RestartPolicy": st.fixed_dictionaries(
            {"Name": st.sampled_from(["no", "on-failure", "always", "bogus"])},
            optional={"MaximumRetryCount": huge_ints},
        ),
        "PortBindings": st.dictionaries(texts, json_values, max_size=2),
        "CapAdd": st.lists(texts, max_size=2),
        "Ulimits": st.lists(json_values, max_size=2),
    },
)
create_bodies = st.fixed_dictionaries(
    {"Image": st.sampled_from(["busybox", "busybox:latest"]) | texts},
    optional={
        "Cmd": st.sampled_from(SAFE_CMDS) | json_scalars,
        "HostConfig": host_config | json_values,
        "NetworkingConfig": json_values,
        **{key: json_values for key in CONFIG_KEYS},
        "Env": st.lists(texts, max_size=5) | json_values,
    },
)
raw_bodies = st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())
ARCHIVE_MEMBERS = ("manifest.json", "index.json", "repositories", "oci-layout", "layer.tar")
archive_texts = (
    json_values.map(lambda v: json.dumps(v).encode())
    | st.sampled_from([b"[" * 100_000, b'{"a":' * 50_000, b""])
    | st.binary(max_size=200)
)


def tarball(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# An image archive's shape with hostile contents, for load and import.
archive_bodies = st.dictionaries(
    st.sampled_from(ARCHIVE_MEMBERS) | texts.filter(lambda t: 0 < len(t.encode()) < 90),
    archive_texts,
    max_size=4,
).map(tarball)


@dataclass(frozen=True)
class Drawn:
    method: str
    target: str
    body: bytes


def _path(route: Route, draw: Callable[[Any], Any], stage: Stage) -> str:
    known = [*stage.ids, *stage.ids.values(), *(i[:12] for i in stage.ids.values())]
    known += stage.others
    images = ["busybox", "busybox:latest", stage.image_id, stage.image_id[7:19]]
    path = route.template
    for group in route.pattern.groupindex:
        pool = images if group == "name" else known
        # An index, not `sampled_from(pool)`: the pool changes between examples and
        # hypothesis wants the same draws for the same choices.
        index = draw(st.integers(min_value=0, max_value=63))
        kind = draw(st.sampled_from(["known"] * 7 + ["text"] * 2 + ["builtin"]))
        value = draw(texts) if kind == "text" else pool[index % len(pool)]
        if kind == "builtin" and group == "id":
            value = ("bridge", "host", "none")[index % 3]
        path = path.replace("{" + group + "}", quote(value, safe="" if group != "name" else "/:"))
    return path


def draw_request(draw: Callable[[Any], Any], route: Route, stage: Stage) -> Drawn:
    """One request for `route`, drawn with hypothesis' `draw`."""
    method = draw(st.sampled_from([route.method] * 19 + ["PUT"]))
    version = draw(st.sampled_from(["", "/v1.41", "/v1.24"] * 6 + ["/v1.99"]))
    path = version + _path(route, draw, stage)
    known = ROUTE_PARAMS.get(route.template, ())
    keys = [key for key in known if draw(st.booleans())]
    keys += draw(st.lists(st.sampled_from(QUERY_KEYS) | texts, max_size=2))
    query = {key: draw(texts) for key in keys}
    if route.template in ("/containers/{id}/stop", "/containers/{id}/restart"):
        # A stop waits `t` seconds for a process that ignores the signal: only values
        # that end soon, or that are refused.
        query.pop("t", None)
        t = draw(st.none() | st.sampled_from(["0", "1", "x", "1e30", "9" * 25, ""]))
        if t is not None:
            query["t"] = t
    if route.template == "/images/create" and "fromImage" in query:
        query["fromImage"] = f"{UNREACHABLE_REGISTRY}/{query['fromImage']}"
    target = path + ("?" + urlencode(query) if query else "")
    if draw(st.sampled_from([False] * 7 + [True])):
        target += draw(st.sampled_from(["&%zz", "&%ff%fe=1", "&a=%00", "&=", "&&"]))
    if route.template == "/containers/create" and draw(st.integers(0, 3)):
        body = json.dumps(draw(create_bodies)).encode()
    elif route.upload and draw(st.booleans()):
        body = draw(archive_bodies)
    else:
        body = draw(raw_bodies) if draw(st.booleans()) else b""
    return Drawn(method, target, body)


# Running them -------------------------------------------------------------------------------


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
        that cannot be reached is the pull's 503 (the fuzzing pulls from a closed port):
        an answer about the world, not about the request."""
        upstream = self.status == 503 and self.route.template == "/images/create"
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
        drawn = draw_request(data.draw, route, stage)
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
