"""`docker commit`: the image config made from a container (moby daemon/commit.go,
builder/dockerfile BuildFromConfig, image.NewChildImage). Pure.

The new config is the body's config (else the container's), changed by the `--change`
Dockerfile instructions dockerd accepts for a commit, then merged with the container's
config by the same rules as create's merge (`settings.merge_config`). The image is the
parent image's config with the new config, the container's config as
`container_config`, the new layer appended to its root filesystem (none when the
container changed nothing: an empty layer, as dockerd's) and one more history entry.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
import shlex
from collections.abc import Mapping
from typing import Any

from .config import Config
from .errors import InvalidParameter
from .settings import merge_config
from .signals import parse_signal

# dockerd's validCommitCommands; HEALTHCHECK is one too, which berth does not apply yet.
CHANGE_COMMANDS = (
    "cmd",
    "entrypoint",
    "env",
    "expose",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
)
NOT_SUPPORTED = ("healthcheck",)
DEFAULT_SHELL = ("/bin/sh", "-c")
# The mount points and the marker (/.dockerenv) the engine makes in every container's
# root filesystem (dockerd keeps them in an "init" layer below the container's own): left
# empty, they are no change the container made, neither for `docker diff` nor in a commit.
ENGINE_MOUNT_POINTS = frozenset(
    {
        "/.dockerenv",
        "/dev",
        "/dev/console",
        "/dev/mqueue",
        "/dev/pts",
        "/dev/shm",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/mtab",
        "/etc/resolv.conf",
        "/proc",
        "/sys",
        "/sys/fs/cgroup",
    }
)
_PORT = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?")


def is_engine_stub(path: str, empty: bool) -> bool:
    """Whether `path` (absolute, in the container) is an engine mount point left empty."""
    return empty and path in ENGINE_MOUNT_POINTS


def _lines(changes: list[str]) -> list[tuple[str, str]]:
    """(instruction in lower case, its arguments) of each Dockerfile line, continuation
    lines joined and comments dropped, as the Dockerfile parser reads them."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in "\n".join(changes).split("\n"):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        command, _, rest = line.partition(" ")
        out.append((command.lower(), rest.strip()))
    if pending.strip():
        command, _, rest = pending.strip().partition(" ")
        out.append((command.lower(), rest.strip()))
    return out


def _json_or_words(rest: str) -> tuple[tuple[str, ...], bool]:
    """The arguments as a JSON array of strings (True) or, failing that, the raw text."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value), True
    return (rest,), False


def _command(rest: str, shell: tuple[str, ...]) -> tuple[str, ...]:
    words, is_json = _json_or_words(rest)
    return words if is_json else (*(shell or DEFAULT_SHELL), rest)


def _pairs(name: str, rest: str) -> list[tuple[str, str]]:
    """`k=v k2="v 2"` (or the old `k v` form) of ENV and LABEL."""
    try:
        words = shlex.split(rest)
    except ValueError as error:
        raise InvalidParameter(f"{name.upper()}: {error}") from None
    if not words:
        raise InvalidParameter(f"{name.upper()} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = rest.partition(" ")
        if not value.strip():
            raise InvalidParameter(f"{name.upper()} must have two arguments")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise InvalidParameter(
                f"Syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        pairs.append((key, value))
    return pairs


def _ports(rest: str) -> tuple[str, ...]:
    ports = []
    for word in rest.split():
        found = _PORT.fullmatch(word)
        if found is None:
            raise InvalidParameter(f"Invalid containerPort: {word}")
        low, high, proto = found.group(1), found.group(2) or found.group(1), found.group(3)
        ports += [f"{port}/{proto or 'tcp'}" for port in range(int(low), int(high) + 1)]
    if not ports:
        raise InvalidParameter("EXPOSE requires at least one argument")
    return tuple(ports)


def _one(name: str, rest: str) -> str:
    if not rest or len(rest.split()) != 1:
        raise InvalidParameter(f"{name.upper()} requires exactly one argument")
    return rest


def _apply(config: Config, command: str, rest: str, cmd_set: bool) -> Config:
    replace = dataclasses.replace
    if command == "cmd":
        return replace(config, cmd=_command(rest, config.shell))
    if command == "entrypoint":
        entrypoint = _command(rest, config.shell)
        return replace(config, entrypoint=entrypoint, cmd=config.cmd if cmd_set else None)
    if command == "env":
        env = list(config.env or ())
        for key, value in _pairs(command, rest):
            env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
        return replace(config, env=tuple(env))
    if command == "label":
        return replace(config, labels={**(config.labels or {}), **dict(_pairs(command, rest))})
    if command == "expose":
        return replace(config, exposed_ports=tuple(sorted({*config.exposed_ports, *_ports(rest)})))
    if command == "user":
        return replace(config, user=_one(command, rest))
    if command == "volume":
        words, is_json = _json_or_words(rest)
        paths = list(words) if is_json else rest.split()
        if not paths or not all(paths):
            raise InvalidParameter("VOLUME specified can not be an empty string")
        return replace(config, volumes=tuple(sorted({*(config.volumes or ()), *paths})))
    if command == "workdir":
        path = posixpath.normpath(
            posixpath.join("/", config.working_dir or "/", _one(command, rest))
        )
        return replace(config, working_dir=path)
    if command == "stopsignal":
        parse_signal(_one(command, rest))
        return replace(config, stop_signal=rest)
    # onbuild: the trigger is kept as written, its instruction upper-cased
    trigger, _, args = rest.partition(" ")
    if not trigger:
        raise InvalidParameter("ONBUILD requires at least one argument")
    if trigger.lower() in ("onbuild", "from", "maintainer"):
        raise InvalidParameter(f"{trigger.upper()} isn't allowed as an ONBUILD trigger")
    return replace(config, on_build=(*(config.on_build or ()), f"{trigger.upper()} {args}".strip()))


def check_changes(changes: list[str]) -> list[tuple[str, str]]:
    """The instructions of `--change`; InvalidParameter with dockerd's message for one a
    commit does not take."""
    lines = _lines(changes)
    for command, _ in lines:
        if command in NOT_SUPPORTED:
            raise InvalidParameter(f"{command} is not supported in a change by berth")
        if command not in CHANGE_COMMANDS:
            raise InvalidParameter(f"{command} is not a valid change command")
    return lines


def _changed(config: Config, changes: list[str]) -> Config:
    cmd_set = False
    for command, rest in check_changes(changes):
        config = _apply(config, command, rest, cmd_set)
        cmd_set = cmd_set or command == "cmd"
    return config


def imported_config(changes: list[str]) -> dict[str, Any]:
    """The Config of `docker import --change ...`: the changes made to an empty config,
    as moby's ImportImage does (the same instructions as a commit's); {} without any."""
    if not changes:
        return {}
    return _changed(Config.from_docker({}), changes).to_docker()


def committed_config(
    container_config: Mapping[str, Any], body: Mapping[str, Any] | None, changes: list[str]
) -> dict[str, Any]:
    """The Config (Docker's JSON) of the committed image."""
    container = Config.from_docker(container_config)
    config = _changed(Config.from_docker(body) if body else container, changes)
    try:
        return merge_config(config, container).to_docker()
    except InvalidParameter:
        return config.to_docker()  # nothing to run is the image's to have, as dockerd's


def child_image(
    parent: Mapping[str, Any],
    *,
    parent_id: str = "",
    config: dict[str, Any],
    container_config: Mapping[str, Any],
    container_id: str,
    diff_id: str | None,
    created: str,
    author: str = "",
    comment: str = "",
    docker_version: str = "",
) -> dict[str, Any]:
    """The image config of a commit (`diff_id` None: the container changed nothing)."""
    history: dict[str, Any] = {"created": created}
    if author:
        history["author"] = author
    history["created_by"] = " ".join(container_config.get("Cmd") or [])
    if comment:
        history["comment"] = comment
    if diff_id is None:
        history["empty_layer"] = True
    rootfs = dict(parent.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), *([diff_id] if diff_id else [])]
    image: dict[str, Any] = {
        "architecture": parent.get("architecture") or "amd64",
        "config": config,
        "container": container_id,
        "container_config": dict(container_config),
        "created": created,
        "docker_version": docker_version,
        "history": [*(parent.get("history") or []), history],
        "os": parent.get("os") or "linux",
        "rootfs": rootfs,
    }
    if parent_id:  # V1Image's `parent`: inspect's Parent of a locally made image
        image["parent"] = parent_id
    if author:
        image["author"] = author
    if comment:
        image["comment"] = comment
    if parent.get("variant"):
        image["variant"] = parent["variant"]
    return image
