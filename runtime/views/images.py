"""The image views: `/images/json` entries and `/images/{name}/json` documents."""

from __future__ import annotations

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
        "ContainerConfig": config.get("container_config") or {},
        "DockerVersion": str(config.get("docker_version") or ""),
        "Author": str(config.get("author") or ""),
        "Config": config.get("config") or {},
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
