"""What the API fuzzer draws: requests for one route, hostile in every part.

Paths mostly name containers and images that exist (so handlers, not the router, answer),
else garbage; queries carry the route's documented parameters with absurd values and
unknown ones; bodies are create-shaped JSON with wrong types and huge numbers, any JSON,
bytes, or image archives with hostile manifests. Nothing drawn reaches beyond loopback:
pulls name `127.0.0.1:9`, bind sources lie under a directory that does not exist, and
commands are harmless applets.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from berth.runtime.api.server import Route

SAFE_CMDS = (["true"], ["false"], ["sleep", "1"], ["echo", "hi"], ["sh", "-c", "exit 3"])
# Under /proc no directory can be made: a fuzzed `-v` that gets started (whose missing
# source dockerd, and berth, would create) fails instead of leaving one on the host.
NO_SUCH_DIR = "/proc/nonexistent-berth-fuzz"
UNREACHABLE_REGISTRY = "127.0.0.1:9"

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
    "/berth/containers/{id}/json": ("at",),
    "/berth/audit": ("since", "until", "filters", "format"),
    "/berth/verify": ("jobs", "from"),
    "/berth/projections/rebuild": ("name",),
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


def _path(
    route: Route, draw: Callable[[Any], Any], containers: list[str], images: list[str]
) -> str:
    known = containers
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
        if route.template == "/distribution/{name}/json":
            value = f"{UNREACHABLE_REGISTRY}/{value}"  # asks the registry: only a closed port
        path = path.replace("{" + group + "}", quote(value, safe="" if group != "name" else "/:"))
    return path


def draw_request(
    draw: Callable[[Any], Any], route: Route, containers: list[str], images: list[str]
) -> Drawn:
    """One request for `route`, drawn with hypothesis' `draw`; path parameters come
    mostly from `containers` and `images` (names and ids that exist)."""
    other = "HEAD" if route.method == "GET" else route.method  # HEAD is served as GET
    method = draw(st.sampled_from([route.method] * 17 + [other] * 2 + ["PUT"]))
    version = draw(st.sampled_from(["", "/v1.41", "/v1.24"] * 6 + ["/v1.99"]))
    path = version + _path(route, draw, containers, images)
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
