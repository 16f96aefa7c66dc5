"""The image views: `/images/json` entries and `/images/{name}/json` documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..store.events import LoggedEvent
from .timefmt import docker_time, parse_docker_time

Row = dict[str, Any]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _content(row: Row, data: dict[str, Any]) -> None:
    row["config"] = data["config"]
    row["layers"] = list(data["layers"])
    row["size"] = data["size"]
    row["created"] = str(data["config"].get("created") or "")


def fold(row: Row | None, event: LoggedEvent) -> Row | None:
    """The image row after `event`; None once the image is deleted."""
    data = event.data
    if row is None:
        if event.name not in ("Pulled", "Loaded", "Reloaded"):
            return None
        row = {"id": event.originator_id, "tags": [], "repo_digests": [], "version": 0}
        row["last_tag_time"] = docker_time(event.timestamp)
    elif event.version <= row["version"]:
        return row
    match event.name:
        case "Pulled":
            _content(row, data)
            if "@" not in data["reference"]:
                row["tags"] = _unique([*row["tags"], data["reference"]])
            row["repo_digests"] = _unique([*row["repo_digests"], *data["repo_digests"]])
        case "Loaded" | "Reloaded":
            _content(row, data)
            row["tags"] = _unique(list(data["repo_tags"]))
        case "Tagged":
            row["tags"] = _unique([*row["tags"], data["reference"]])
            row["last_tag_time"] = docker_time(event.timestamp)
        case "Untagged":
            row["tags"] = [t for t in row["tags"] if t != data["reference"]]
            row["repo_digests"] = [d for d in row["repo_digests"] if d != data["reference"]]
        case "Deleted":
            return None
    row["version"] = event.version
    row["position"] = event.position
    return row


def _familiar(reference: str) -> str:
    """Docker's short spelling: `docker.io/library/busybox:latest` → `busybox:latest`."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if reference.startswith(prefix):
            return reference[len(prefix) :]
    return reference


def list_entry(row: Row) -> dict[str, Any]:
    created = parse_docker_time(row["created"]) if row["created"] else None
    labels = (row["config"].get("config") or {}).get("Labels") or {}
    return {
        "Containers": -1,
        "Created": int(created.timestamp()) if created else 0,
        "Id": row["id"],
        "Labels": labels,
        "ParentId": "",
        "RepoDigests": [_familiar(d) for d in row["repo_digests"]],
        "RepoTags": [_familiar(t) for t in row["tags"]],
        "SharedSize": -1,
        "Size": row["size"],
        "VirtualSize": row["size"],
    }


# Go's container.Config as dockerd 20.10 writes it: these fields always (zero values
# when the image has none), the omitempty ones (None here) only when set.
_GO_CONFIG_FIELDS: tuple[tuple[str, Any], ...] = (
    ("Hostname", ""), ("Domainname", ""), ("User", ""), ("AttachStdin", False),
    ("AttachStdout", False), ("AttachStderr", False), ("ExposedPorts", None), ("Tty", False),
    ("OpenStdin", False), ("StdinOnce", False), ("Env", []), ("Cmd", []),
    ("Healthcheck", None), ("ArgsEscaped", None), ("Image", ""), ("Volumes", {}),
    ("WorkingDir", ""), ("Entrypoint", []), ("NetworkDisabled", None), ("MacAddress", None),
    ("OnBuild", []), ("Labels", {}), ("StopSignal", None), ("StopTimeout", None),
    ("Shell", None),
)  # fmt: skip


def go_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """An image's (container) config as dockerd shows it: Go's struct, whose empty
    slices and maps are null."""
    given = config or {}
    shown: dict[str, Any] = {}
    for name, zero in _GO_CONFIG_FIELDS:
        value = given.get(name)
        if zero is None:
            if value:
                shown[name] = value
        elif isinstance(zero, list | dict):
            shown[name] = value  # a nil slice or map: null
        else:
            shown[name] = value if value is not None else zero
    return shown


def inspect_document(row: Row) -> dict[str, Any]:
    config = row["config"]
    return {
        "Id": row["id"],
        "RepoTags": [_familiar(t) for t in row["tags"]],
        "RepoDigests": [_familiar(d) for d in row["repo_digests"]],
        "Parent": str(config.get("parent") or ""),
        "Comment": str(config.get("comment") or ""),
        "Created": row["created"],
        "Container": str(config.get("container") or ""),
        "ContainerConfig": go_config(config.get("container_config")),
        "DockerVersion": str(config.get("docker_version") or ""),
        "Author": str(config.get("author") or ""),
        "Config": go_config(config.get("config")),
        "Architecture": str(config.get("architecture") or "amd64"),
        "Os": str(config.get("os") or "linux"),
        "Size": row["size"],
        "VirtualSize": row["size"],
        "GraphDriver": {"Data": None, "Name": "overlay2"},
        "RootFS": {
            "Type": "layers",
            "Layers": list((config.get("rootfs") or {}).get("diff_ids") or []),
        },
        "Metadata": {"LastTagTime": row["last_tag_time"]},
    }
